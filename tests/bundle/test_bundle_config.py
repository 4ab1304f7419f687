"""The bundle as the local runner reads it: targets and variables resolve like the CLI, task graphs order, and the
offline checks catch a missing entry point, notebook, widget or variable. No Spark, no CLI: fast."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO, edit
from fitlake_bundle import BundleError, load_bundle, plan_job, validate_bundle, validate_targets
from fitlake_bundle.launch import main as launch
from fitlake_bundle.tasks import LAUNCHER

from fitlake import cli

BATCH, STREAM, RETRAIN = "fitlake_batch", "fitlake_stream", "fitlake_retrain"


def _task(bundle, job: str, key: str) -> dict:
    return next(t for t in bundle.jobs[job].tasks if t["task_key"] == key)


def test_repo_bundle_passes_local_checks_for_every_target():
    reports = validate_targets(REPO)
    assert set(reports) == {"dev", "prod", "local"}
    problems = {t: r.errors for t, r in reports.items() if r.errors}
    assert not problems, problems


def test_jobs_use_every_job_entry_point_and_every_notebook():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    bundle = load_bundle(REPO, target="local")
    tasks = [t for job in bundle.jobs.values() for t in job.tasks]
    used_entry_points = {t["python_wheel_task"]["entry_point"] for t in tasks if "python_wheel_task" in t}
    assert used_entry_points == set(scripts) - {"fitlake"}  # the user CLI is not a job entry point
    notebooks = {Path(t["notebook_task"]["notebook_path"]).name for t in tasks if "notebook_task" in t}
    assert notebooks == {
        "train_personas.py",
        "train_activity_type.py",
        "train_calories.py",
        "train_recommender.py",
        "score.py",
    }
    assert set(bundle.jobs) == {BATCH, STREAM, RETRAIN, "fitlake_maintenance"}
    assert bundle.jobs[STREAM].spec["continuous"] and "schedule" in bundle.jobs[RETRAIN].spec


def test_local_target_resolves_variables_like_the_cli(monkeypatch):
    monkeypatch.delenv("BUNDLE_VAR_root", raising=False)
    bundle = load_bundle(REPO, target="local")
    assert bundle.variables["root"] == "lakehouse" and bundle.variables["landing_path"] == "lakehouse/landing"
    params = _task(bundle, BATCH, "ingest")["python_wheel_task"]["parameters"]
    assert params[:2] == ["--target", "local"]  # ${bundle.target}
    assert params[params.index("--landing") + 1] == "lakehouse/landing"  # variable referring to a variable
    assert params[params.index("--step-goal") + 1] == "10000"
    widgets = _task(bundle, BATCH, "train_personas")["notebook_task"]["base_parameters"]
    assert widgets == {"target": "local", "root": "lakehouse"}  # complex variable, substituted whole


def test_variable_precedence_flag_over_env_over_target(monkeypatch):
    monkeypatch.setenv("BUNDLE_VAR_root", "/from/env")
    assert load_bundle(REPO, target="local").variables["landing_path"] == "/from/env/landing"
    bundle = load_bundle(REPO, target="local", cli_vars={"root": "/from/flag"})
    assert bundle.variables["landing_path"] == "/from/flag/landing"
    with pytest.raises(BundleError, match="not declared"):
        load_bundle(REPO, target="local", cli_vars={"nope": "1"})


def test_dev_and_prod_targets(monkeypatch):
    monkeypatch.setenv("USER", "jane.doe@example.com")
    dev = load_bundle(REPO, target="dev")
    assert dev.variables["schema"] == "fitlake_jane_doe"
    assert dev.variables["landing_path"] == "/Volumes/main/fitlake_jane_doe/landing"
    prod = load_bundle(REPO, target="prod")
    assert prod.variables["schema"] == "fitlake" and prod.variables["experiment_path"] == "/Shared/fitlake"
    assert load_bundle(REPO).target == "dev"  # the default target, as in default_python
    with pytest.raises(BundleError, match="unknown target"):
        load_bundle(REPO, target="staging")


def test_batch_job_runs_in_dependency_order():
    plans = plan_job(load_bundle(REPO, target="local").jobs[BATCH])
    keys = [p.key for p in plans]
    assert keys[:3] == ["ingest", "silver", "gold"] and keys[-1] == "score"
    assert set(keys[3:-1]) == {"train_personas", "train_activity_type", "train_calories", "train_recommender"}
    ingest = plans[0]
    assert ingest.script == LAUNCHER and ingest.args[:2] == ("fitlake", "fitlake_ingest")
    personas = next(p for p in plans if p.key == "train_personas")
    assert personas.script == REPO / "src" / "notebooks" / "train_personas.py"
    assert personas.args[personas.args.index("--target") + 1] == "local"
    only = plan_job(load_bundle(REPO, target="local").jobs[BATCH], only=["gold", "ingest"])
    assert [p.key for p in only] == ["ingest", "gold"]


def test_missing_entry_point_is_an_error(bundle_copy):
    edit(bundle_copy / "resources" / "fitlake_batch.job.yml", "entry_point: fitlake_silver", "entry_point: fitlake_silverr")
    errors = validate_bundle(load_bundle(bundle_copy, target="local")).errors
    assert any("fitlake_batch.silver" in e and "'fitlake_silverr' is not in [project.scripts]" in e for e in errors)


def test_entry_point_whose_function_is_gone_is_an_error(bundle_copy):
    edit(bundle_copy / "src" / "fitlake" / "jobs.py", "def gold()", "def gold_renamed()")
    errors = validate_bundle(load_bundle(bundle_copy, target="local")).errors
    assert any("fitlake_batch.gold" in e and "not defined in the source" in e for e in errors)


def test_missing_notebook_is_an_error(bundle_copy):
    edit(bundle_copy / "resources" / "fitlake_retrain.job.yml", "notebooks/score.py", "notebooks/scores.py")
    errors = validate_bundle(load_bundle(bundle_copy, target="local")).errors
    assert any("fitlake_retrain.score" in e and "scores.py not found" in e for e in errors)


def test_notebook_parameter_that_is_no_widget_is_an_error(bundle_copy):
    notebook = bundle_copy / "src" / "notebooks" / "score.py"
    notebook.parent.mkdir(parents=True, exist_ok=True)
    notebook.write_text('# Databricks notebook source\ndbutils.widgets.text("target", "local")\n')
    errors = validate_bundle(load_bundle(bundle_copy, target="local")).errors
    assert any("fitlake_retrain.score: base_parameters ['root'] are not widgets of score.py" in e for e in errors)
    notebook.write_text('# Databricks notebook source\nparams = notebook_params({"root": "", "k": "1"}, dbutils)\n')
    errors = validate_bundle(load_bundle(bundle_copy, target="local")).errors
    assert any("base_parameters ['target'] are not widgets of score.py (it declares ['k', 'root'])" in e for e in errors)


def test_undefined_variable_is_an_error(bundle_copy):
    edit(bundle_copy / "resources" / "fitlake_stream.job.yml", "${var.node_type_id}", "${var.node_type}")
    reports = validate_targets(bundle_copy)
    assert all(any("${var.node_type}" in e and "not declared" in e for e in r.errors) for r in reports.values())


def test_dangling_dependency_and_cycle_are_errors(bundle_copy):
    path = bundle_copy / "resources" / "fitlake_batch.job.yml"
    ingest = "- task_key: ingest\n          job_cluster_key"
    edit(path, ingest, ingest.replace("\n", "\n          depends_on:\n            - task_key: gold\n", 1))
    errors = validate_bundle(load_bundle(bundle_copy, target="local")).errors
    assert any("cycle" in e for e in errors)
    edit(path, "            - task_key: gold\n", "            - task_key: golden\n")
    errors = validate_bundle(load_bundle(bundle_copy, target="local")).errors
    assert any("'ingest' depends on 'golden', which is not a task" in e for e in errors)


def test_unknown_job_field_fails_the_typed_check(bundle_copy):
    edit(bundle_copy / "resources" / "fitlake_stream.job.yml", "max_concurrent_runs: 1", "max_concurrent_run: 1")
    errors = validate_bundle(load_bundle(bundle_copy, target="local")).errors
    assert any("databricks-bundles" in e and "max_concurrent_run" in e for e in errors)


def test_every_job_loads_through_databricks_bundles_typed_classes():
    from databricks.bundles.jobs import Job

    for target in ("dev", "prod", "local"):
        for job in load_bundle(REPO, target=target).jobs.values():
            typed = Job.from_dict(job.spec)
            assert typed.name == job.key and len(typed.tasks) == len(job.tasks)
    # as written too, variables unresolved: the classes accept ${var.*} where a value goes
    for path in sorted((REPO / "resources").glob("*.yml")):
        for key, spec in yaml.safe_load(path.read_text())["resources"]["jobs"].items():
            assert Job.from_dict(spec).name == key


def test_cli_dry_run_prints_the_plan(capsys):
    assert cli.main(["bundle", "--bundle-root", str(REPO), "run", BATCH, "--dry-run", "--var", "root=/tmp/x"]) == 0
    out = capsys.readouterr().out
    assert "[1/8] ingest (python_wheel_task: fitlake:fitlake_ingest)" in out
    assert "spark-submit" in out and "--root /tmp/x --landing /tmp/x/landing" in out and "delta-spark" in out


def test_cli_refuses_to_run_a_databricks_target_locally(capsys):
    assert cli.main(["bundle", "--bundle-root", str(REPO), "run", BATCH, "--target", "prod"]) == 2
    assert "runs on Databricks" in capsys.readouterr().err


def test_cli_validate_reports_the_broken_task(bundle_copy, capsys):
    edit(bundle_copy / "resources" / "fitlake_batch.job.yml", "entry_point: fitlake_score", "entry_point: fitlake_scor")
    assert cli.main(["bundle", "--bundle-root", str(bundle_copy), "validate", "-t", "local"]) == 1
    assert "fitlake_batch.score: entry point 'fitlake_scor'" in capsys.readouterr().err


def test_launcher_names_a_missing_entry_point():
    with pytest.raises(SystemExit, match="has no entry point 'fitlake_nope'"):
        launch(["fitlake", "fitlake_nope"])
    with pytest.raises(SystemExit, match="is not installed"):
        launch(["no-such-package-here", "main"])


def test_target_overrides_merge_tasks_by_key_and_bad_references_fail(tmp_path):
    (tmp_path / "databricks.yml").write_text(
        """
bundle: {name: t}
variables:
  a: {default: "${var.b}-x"}
  b: {default: "${var.a}"}
  args: {type: complex, default: [--x, "1"]}
targets:
  local:
    default: true
    resources:
      jobs:
        j:
          tasks:
            - task_key: one
              spark_python_task: {python_file: two.py}
resources:
  jobs:
    j:
      name: j
      tasks:
        - task_key: one
          spark_python_task: {python_file: one.py, parameters: "${var.args}"}
        - task_key: other
          spark_python_task: {python_file: other.py, parameters: ["--y=${var.args}"]}
"""
    )
    with pytest.raises(BundleError, match="cycle: a -> b -> a"):
        load_bundle(tmp_path)
    with pytest.raises(BundleError, match="complex value"):
        load_bundle(tmp_path, cli_vars={"a": "1"})
    text = (tmp_path / "databricks.yml").read_text().replace('"--y=${var.args}"', '"--y=${var.a}"')
    (tmp_path / "databricks.yml").write_text(text)
    tasks = load_bundle(tmp_path, cli_vars={"b": "2"}).jobs["j"].tasks
    assert tasks[0]["spark_python_task"] == {"python_file": "two.py", "parameters": ["--x", "1"]}  # merged by key
    assert tasks[1]["spark_python_task"]["parameters"] == ["--y=2-x"]
