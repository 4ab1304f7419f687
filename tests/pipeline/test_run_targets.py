"""`fitlake run` before Spark starts, per target (issue #18 items 1 and 5, issue #17 item 3): the file lock only on
target local, synthetic data only when asked and only locally, an empty given --landing is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

import fitlake.generate
import fitlake.spark
from fitlake.cli import main


class SparkStarted(Exception):
    """Raised instead of starting Spark: everything before it (lock, landing check) has run."""


@pytest.fixture()
def calls(monkeypatch):
    seen = {"generated": [], "spark": 0}

    def fake_generate(landing, *args, **kwargs):  # one file, as the generator writes many
        seen["generated"].append(landing)
        (Path(landing) / "activity" / "date=2023-04-01").mkdir(parents=True, exist_ok=True)
        (Path(landing) / "activity" / "date=2023-04-01" / "part-00000.json").write_text("{}\n")

    def fake_spark(*args, **kwargs):
        seen["spark"] += 1
        raise SparkStarted()

    monkeypatch.setattr(fitlake.generate, "generate_landing", fake_generate)
    monkeypatch.setattr(fitlake.spark, "get_spark", fake_spark)
    monkeypatch.delenv("FITLAKE_LANDING", raising=False)
    monkeypatch.delenv("FITLAKE_ROOT", raising=False)
    return seen


def test_dev_takes_no_file_lock_and_never_fills_an_empty_landing_volume(tmp_path, calls):
    root = tmp_path / "Volumes" / "main" / "fitlake" / "lakehouse"  # a Volume path nothing created
    landing = tmp_path / "Volumes" / "main" / "fitlake" / "landing"
    landing.mkdir(parents=True)
    with pytest.raises(SparkStarted):
        main(["run", "--target", "dev", "--root", str(root), "--landing", str(landing), "--stage", "ingest"])
    assert not root.exists()  # no mkdir, no _run.lock: max_concurrent_runs is the lock on Databricks
    assert calls["generated"] == [] and list(landing.iterdir()) == []


def test_generate_is_refused_off_local(tmp_path, calls, capsys):
    landing = tmp_path / "landing"
    code = main(["run", "--target", "prod", "--root", str(tmp_path / "lake"), "--landing", str(landing), "--generate"])
    assert code == 2 and "only on target local" in capsys.readouterr().err
    assert calls == {"generated": [], "spark": 0}


def test_an_empty_given_landing_is_an_error_not_a_reason_to_generate(tmp_path, calls, capsys):
    landing = tmp_path / "my_export"
    landing.mkdir()
    code = main(["run", "--root", str(tmp_path / "lake"), "--landing", str(landing), "--generate"])
    assert code == 2
    assert f"the landing folder {landing} you gave is empty" in capsys.readouterr().err
    assert calls == {"generated": [], "spark": 0} and list(landing.iterdir()) == []


def test_the_default_landing_is_generated_only_when_asked(tmp_path, calls, capsys):
    root = tmp_path / "lake"
    assert main(["run", "--root", str(root)]) == 2
    assert "fitlake run --generate" in capsys.readouterr().err and calls["generated"] == []
    with pytest.raises(SparkStarted):
        main(["run", "--root", str(root), "--generate"])
    assert calls["generated"] == [root / "landing"]
    assert "--generate was given: generating" in capsys.readouterr().out


def test_a_local_landing_with_files_runs_without_generating(tmp_path, calls):
    landing = tmp_path / "landing"
    (landing / "activity").mkdir(parents=True)
    (landing / "activity" / "a.json").write_text("{}\n")
    with pytest.raises(SparkStarted):
        main(["run", "--root", str(tmp_path / "lake"), "--landing", str(landing)])
    assert calls["generated"] == [] and (tmp_path / "lake" / "_run.lock").is_file()  # the local lock is taken
