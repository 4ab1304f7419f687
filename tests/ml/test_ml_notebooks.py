"""The notebooks are Databricks source files whose parameters come from widgets, or ``--name value`` locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from fitlake.ml.notebook import notebook_params, notebook_settings

NOTEBOOKS = Path(__file__).resolve().parents[2] / "src" / "notebooks"
EXPECTED = {"train_personas.py", "train_activity_type.py", "train_calories.py", "train_recommender.py", "score.py"}


class FakeWidgets:
    def __init__(self, values):
        self.values, self.created = values, {}

    def text(self, name, default):
        self.created[name] = default

    def get(self, name):
        return self.values.get(name, self.created[name])


class FakeDbutils:
    def __init__(self, values):
        self.widgets = FakeWidgets(values)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_is_databricks_source_and_thin(name):
    text = (NOTEBOOKS / name).read_text()
    assert text.startswith("# Databricks notebook source\n")
    assert text.count("# COMMAND ----------") >= 2
    assert "notebook_params(" in text and "from fitlake.ml." in text
    compile(text, name, "exec")
    code = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(code) < 40  # the logic lives in fitlake.ml


def test_all_notebooks_present():
    assert {p.name for p in NOTEBOOKS.glob("*.py")} >= EXPECTED


def test_params_from_widgets_args_env_and_defaults(monkeypatch, tmp_path):
    defaults = {"target": "", "root": "", "source": "all"}
    dbutils = FakeDbutils({"source": "fitbit"})
    assert notebook_params(defaults, dbutils) == {"target": "", "root": "", "source": "fitbit"}
    assert dbutils.widgets.created == defaults
    monkeypatch.setenv("FITLAKE_SOURCE", "activity")
    got = notebook_params(defaults, argv=["--root", str(tmp_path), "--unrelated", "x"])
    assert got == {"target": "", "root": str(tmp_path), "source": "activity"}
    assert notebook_params(defaults, argv=["--source", "fitbit"])["source"] == "fitbit"
    settings = notebook_settings(got)
    assert settings.root == tmp_path.resolve() and settings.target == "local"


def test_run_notebook_runs_the_job_with_settings_and_exits_with_json(monkeypatch, tmp_path, capsys):
    from fitlake.ml import notebook

    sessions = []
    monkeypatch.setattr(notebook, "get_spark", lambda settings, app_name: sessions.append(app_name) or "spark")
    exits = []
    dbutils = FakeDbutils({})
    dbutils.notebook = type("Nb", (), {"exit": staticmethod(exits.append)})()
    seen = {}

    def job(spark, settings):
        seen.update(spark=spark, root=settings.root)
        return {"rows": 3, "root": settings.root}

    result = notebook.run_notebook("score", {"target": "", "root": str(tmp_path)}, dbutils, job)
    assert sessions == ["score"] and seen == {"spark": "spark", "root": tmp_path.resolve()}
    assert result["rows"] == 3 and "'rows': 3" in capsys.readouterr().out
    assert exits == [f'{{"rows": 3, "root": "{tmp_path.resolve()}"}}']
    assert notebook.run_notebook("score", {"target": "", "root": str(tmp_path)}, None, job)["rows"] == 3  # locally
    assert len(exits) == 1  # no dbutils, no exit
