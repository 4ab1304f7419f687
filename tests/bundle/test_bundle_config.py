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
DEPLOY_VARS = {"catalog": "lake", "node_type_id": "some-node-type"}  # required on dev/prod: no default


@pytest.fixture(autouse=True)
def deploy_vars(monkeypatch):
    """The two variables a deploy must be given, as BUNDLE_VAR_* (what CI sets)."""
    for name, value in DEPLOY_VARS.items():
        monkeypatch.setenv(f"BUNDLE_VAR_{name}", value)


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
    assert dev.resources["schemas"]["fitlake"]["name"] == "dev_jane_doe_fitlake"  # development mode's UC prefix
    assert dev.variables["landing_path"] == "/Volumes/lake/dev_jane_doe_fitlake/landing"
    params = _task(dev, BATCH, "ingest")["python_wheel_task"]["parameters"]
    assert params[params.index("--schema") + 1] == "dev_jane_doe_fitlake"  # the schema the deploy creates
    prod = load_bundle(REPO, target="prod")
    assert prod.resources["schemas"]["fitlake"]["name"] == "fitlake"
    assert prod.variables["experiment_path"] == "/Workspace/Users/jane.doe@example.com/.bundle/fitlake/prod"
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
    ingest = "- task_key: ingest\n"
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
        for key, spec in (yaml.safe_load(path.read_text())["resources"].get("jobs") or {}).items():
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


# ---- issue #18: the bundle declares what it uses --------------------------------------------------------------------
def _option(params: list[str], name: str) -> str:
    return params[params.index(name) + 1]


def test_catalog_and_node_type_are_required_with_a_clear_error(monkeypatch):
    monkeypatch.delenv("BUNDLE_VAR_catalog")
    with pytest.raises(BundleError, match="variable 'catalog' has no value for target 'dev': set it with --var"):
        load_bundle(REPO, target="dev")
    monkeypatch.setenv("BUNDLE_VAR_catalog", "lake")
    monkeypatch.delenv("BUNDLE_VAR_node_type_id")
    with pytest.raises(BundleError, match="variable 'node_type_id' has no value for target 'prod'"):
        load_bundle(REPO, target="prod")
    load_bundle(REPO, target="local")  # the local target needs neither


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_every_volume_path_and_schema_a_task_gets_is_created_by_the_deploy(target):
    """Issue #18 item 2: no schema or Volume by hand. Every /Volumes path a task or cluster gets (landing, root,
    and the state folder fitlake.config derives from catalog + schema) is inside a Volume the bundle declares."""
    from fitlake.config import Settings

    bundle = load_bundle(REPO, target=target)
    schemas = {(s["catalog_name"], s["name"]) for s in bundle.resources["schemas"].values()}
    volumes = {v["volume_path"] for v in bundle.resources["volumes"].values()}
    assert {(v["catalog_name"], v["schema_name"]) for v in bundle.resources["volumes"].values()} <= schemas
    tasks = [t for job in bundle.jobs.values() for t in job.tasks]
    wheel_args = [t["python_wheel_task"]["parameters"] for t in tasks if "python_wheel_task" in t]
    assert wheel_args
    paths = []
    for params in wheel_args:
        catalog, schema = _option(params, "--catalog"), _option(params, "--schema")
        assert (catalog, schema) in schemas
        settings = Settings(target=target, catalog=catalog, schema=schema)
        paths += [_option(params, "--root"), _option(params, "--landing"), settings.schema_location("activity"),
                  settings.checkpoint("bronze", "activity")]
    for job in bundle.jobs.values():
        for cluster in job.spec["job_clusters"]:
            env = cluster["new_cluster"]["spark_env_vars"]
            assert (env["FITLAKE_CATALOG"], env["FITLAKE_SCHEMA"]) in schemas
            paths.append(env["FITLAKE_LANDING"])
    paths += [t["notebook_task"]["base_parameters"]["root"] for t in tasks if "notebook_task" in t]
    outside = [p for p in paths if not any(p == v or p.startswith(v + "/") for v in volumes)]
    assert outside == [], f"paths in no declared Volume: {sorted(set(outside))}"


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_training_code_opens_the_experiments_and_models_the_deploy_creates(target, monkeypatch):
    """Issue #18 items 2 and 4: MLflow's `Parent directory ... does not exist`, experiments / models addressed as
    Unity Catalog wants, the DFS temp folder on a Volume. The bundle declares every experiment (in its root folder, which the deploy creates first)
    and every registered model (catalog.schema.model in its schema); the settings each job cluster's environment
    gives the code (fitlake.config.load_settings) name exactly those, also after development mode renamed them."""
    import os

    from fitlake.config import load_settings
    from fitlake.ml.tracking import dfs_tmpdir
    from fitlake.ml.train import CALORIES_SPECS, MODELS

    bundle = load_bundle(REPO, target=target, user="ci@example.com")
    prefix = bundle.variables["experiment_path"]
    assert prefix == f"/Workspace/Users/ci@example.com/.bundle/fitlake/{target}"
    experiments = {e["name"] for e in bundle.resources["experiments"].values()}
    assert len(experiments) == len(MODELS) and all(e.startswith(prefix + "/") for e in experiments)
    models = {f"{m['catalog_name']}.{m['schema_name']}.{m['name']}" for m in bundle.resources["registered_models"].values()}
    schema = bundle.resources["schemas"]["fitlake"]
    assert all(m.startswith(f"{schema['catalog_name']}.{schema['name']}.") for m in models)
    volumes = {v["volume_path"] for v in bundle.resources["volumes"].values()}
    model_keys = {*MODELS, *(spec.model_key for spec in CALORIES_SPECS.values())}
    clusters = [c["new_cluster"] for job in bundle.jobs.values() for c in job.spec["job_clusters"]]
    assert clusters
    for cluster in clusters:
        for key in [k for k in os.environ if k.startswith("FITLAKE_")]:
            monkeypatch.delenv(key)
        for key, value in cluster["spark_env_vars"].items():
            monkeypatch.setenv(key, str(value))
        settings = load_settings()
        assert settings.target == target and settings.experiment_prefix == prefix
        assert {settings.experiment_name(m) for m in MODELS} == experiments
        assert {settings.model_name(k) for k in model_keys} == models
        # Spark models go through a DFS temp folder: on a Volume the bundle declares, not the DBFS root
        assert any(dfs_tmpdir(settings).startswith(v + "/") for v in volumes), dfs_tmpdir(settings)
    if target == "dev":  # development mode renamed both: the defaults would open other (new) ones
        assert f"{prefix}/fitlake-personas" not in experiments
        assert f"{schema['catalog_name']}.{schema['name']}.fitlake_personas" not in models


def test_clusters_name_no_cloud_specific_node_type_and_streams_retry():
    text = (REPO / "databricks.yml").read_text()
    spec = yaml.safe_load(text)["variables"]["node_type_id"]
    assert "default" not in spec  # m5d.xlarge (AWS only) was the default: no deploy on Azure or GCP
    bundle = load_bundle(REPO, target="prod")
    for key in ("ingest", "silver"):  # streams: a schema-change stop is answered by running the task again
        assert _task(bundle, BATCH, key)["max_retries"] >= 1
    assert bundle.jobs[STREAM].spec["continuous"]["task_retry_mode"] == "ON_FAILURE"
    assert yaml.safe_load(text)["artifacts"]["fitlake_wheel"]["dynamic_version"] is True  # no stale wheel


# Databricks' release notes: Runtime 17.3 LTS = Apache Spark 4.0.0; 17.3 LTS ML ships MLflow 3.0.1
# ("MLflow-Databricks Runtime compatibility matrix").
RUNTIME_SPARK = {"17.3": "4.0"}
RUNTIME_ML_MLFLOW = {"17.3": "3.0.1"}


def test_runtime_pyspark_and_mlflow_versions_agree():
    """Issue #18: the wheel required mlflow>=3.5, so every ML task upgraded the runtime's MLflow 3.0.1."""
    from importlib.metadata import version

    from packaging.requirements import Requirement

    variables = yaml.safe_load((REPO / "databricks.yml").read_text())["variables"]
    runtime = variables["spark_version"]["default"].split(".x")[0]
    ml_runtime = variables["ml_spark_version"]["default"].split(".x")[0]
    assert runtime == ml_runtime and "-ml-" in variables["ml_spark_version"]["default"]
    assert ".".join(version("pyspark").split(".")[:2]) == RUNTIME_SPARK[runtime]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = {Requirement(d).name: Requirement(d) for d in project["dependencies"]}
    assert "pyspark" not in deps and "delta-spark" not in deps  # the runtime's own, never shadowed
    assert deps["mlflow"].specifier.contains(RUNTIME_ML_MLFLOW[ml_runtime])
