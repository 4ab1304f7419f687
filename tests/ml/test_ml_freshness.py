"""`fitlake train` / `fitlake score` with nothing new decide so from files, without Spark (fitlake.ml.freshness).
Unit tier: a fake lakehouse of ``_delta_log`` commit files and an MLflow-shaped SQLite store, no JVM."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fitlake.config import Settings
from fitlake.ml import freshness


def commit(settings: Settings, layer: str, name: str, version: int) -> None:
    log = Path(settings.table(layer, name).path) / "_delta_log"
    log.mkdir(parents=True, exist_ok=True)
    (log / f"{version:020d}.json").write_text("{}\n")


def registry(settings: Settings, versions: list[tuple[str, int]], champion: dict[str, int]) -> None:
    with sqlite3.connect(settings.root / "mlflow.db") as con:
        con.execute("CREATE TABLE IF NOT EXISTS model_versions (name TEXT, version INT, current_stage TEXT)")
        con.execute("CREATE TABLE IF NOT EXISTS registered_model_aliases (alias TEXT, version INT, name TEXT)")
        con.execute("DELETE FROM model_versions")
        con.execute("DELETE FROM registered_model_aliases")
        con.executemany("INSERT INTO model_versions VALUES (?, ?, 'None')", versions)
        con.executemany("INSERT INTO registered_model_aliases VALUES ('champion', ?, ?)",
                        [(v, n) for n, v in champion.items()])


@pytest.fixture
def lake(tmp_path):
    settings = Settings(root=tmp_path / "lakehouse", landing=str(tmp_path / "landing"))
    settings.root.mkdir(parents=True)
    for layer, name in freshness.INPUT_TABLES:
        commit(settings, layer, name, 0)
    registry(settings, [("fitlake_personas", 1)], {"fitlake_personas": 1})
    return settings


def test_unchanged_inputs_are_current_and_any_change_is_not(lake):
    args = {"model": "all", "source": "fitbit"}
    before = freshness.snapshot(lake, "train", args)
    assert not freshness.is_current(lake, "train", before)  # never trained
    registry(lake, [("fitlake_personas", 1), ("fitlake_personas", 2)], {"fitlake_personas": 2})  # train registers
    freshness.record(lake, "train", before)
    assert freshness.is_current(lake, "train", freshness.snapshot(lake, "train", args))
    assert not freshness.is_current(lake, "train", freshness.snapshot(lake, "train", {**args, "source": "all"}))
    assert not freshness.is_current(lake, "score", freshness.snapshot(lake, "score", {}))  # per command

    commit(lake, "silver", "daily_activity", 1)  # new data: retrain
    assert not freshness.is_current(lake, "train", freshness.snapshot(lake, "train", args))
    before = freshness.snapshot(lake, "train", args)
    freshness.record(lake, "train", before)
    assert freshness.is_current(lake, "train", freshness.snapshot(lake, "train", args))
    registry(lake, [("fitlake_personas", 1), ("fitlake_personas", 2)], {"fitlake_personas": 1})  # alias moved
    assert not freshness.is_current(lake, "train", freshness.snapshot(lake, "train", args))
    (lake.root / "mlflow.db").unlink()  # no registry: never "nothing new"
    assert not freshness.is_current(lake, "train", freshness.snapshot(lake, "train", args))


def test_score_records_its_own_writes_but_not_inputs_committed_while_it_ran(lake):
    before = freshness.snapshot(lake, "score", {})
    commit(lake, "gold", "user_personas", 0)  # what the scoring run wrote
    commit(lake, "silver", "activity", 1)  # a `fitlake run` committed meanwhile
    freshness.record(lake, "score", before)
    assert not freshness.is_current(lake, "score", freshness.snapshot(lake, "score", {}))
    freshness.record(lake, "score", freshness.snapshot(lake, "score", {}))
    assert freshness.is_current(lake, "score", freshness.snapshot(lake, "score", {}))
    commit(lake, "gold", "user_personas", 1)  # someone rewrote an output: rescore
    assert not freshness.is_current(lake, "score", freshness.snapshot(lake, "score", {}))


def test_cli_says_nothing_new_without_importing_spark(lake):
    for command, args in (("train", {"model": "all", "source": "all"}), ("score", {})):
        freshness.record(lake, command, freshness.snapshot(lake, command, args))
        script = (f"import sys, argparse; from fitlake.ml import cli_{command} as m; p = argparse.ArgumentParser(); "
                  f"m.add_arguments(p); a = p.parse_args(['--root', {str(lake.root)!r}, '--landing', "
                  f"{str(lake.landing_dir)!r}]); rc = m.main(a); "
                  "assert 'pyspark' not in sys.modules and 'mlflow' not in sys.modules, 'imported'; sys.exit(rc)")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"fitlake {command}: nothing new" in done.stdout and "without starting Spark" in done.stdout


def test_the_snapshot_names_every_registered_model_and_input():
    from fitlake.ml.train import CALORIES_SPECS, MODELS

    keys = {m for m in MODELS if m != "calories"} | {s.model_key for s in CALORIES_SPECS.values()}
    assert set(freshness.MODEL_KEYS) == keys
    import re

    reads = set()  # every table the ML package reads through read_optional / read_required
    for path in Path(freshness.__file__).parent.glob("*.py"):
        reads |= set(re.findall(r'read_(?:optional|required)\(spark, settings, "(\w+)", "(\w+)"', path.read_text()))
    assert reads and reads <= set(freshness.INPUT_TABLES) | set(freshness.SCORE_OUTPUTS)
    assert set(freshness.INPUT_TABLES) <= reads
