"""The bundle against the real Databricks CLI (built by `make databricks-cli`): its own JSON schema, and
`databricks bundle validate` for dev and prod against a loopback stand-in of the workspace identity call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli_env, edit
from workspace_standin import SHORT_NAME, USER_NAME, WorkspaceStandIn

pytestmark = pytest.mark.databricks_cli

BUNDLE_FILES = [REPO / "databricks.yml", *sorted((REPO / "resources").glob("*.yml"))]


def check_jsonschema(schema: Path, files: list[Path]) -> subprocess.CompletedProcess:
    # check-jsonschema, not jsonschema directly: the CLI's patterns use \p{L}, which Python's re cannot compile.
    command = [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema), *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


DEPLOY_VARS = {"BUNDLE_VAR_catalog": "lake", "BUNDLE_VAR_node_type_id": "some-node-type"}  # required, no default


EXPERIMENTS = ("personas", "activity", "calories", "recommend")  # fitlake.ml.train.MODELS
MODELS = ("personas", "activity", "calories", "calories_fitbit", "recommend")  # what training registers


def assert_clusters_name_the_deployed_mlflow_resources(jobs: dict) -> None:
    """Each job cluster's env (fitlake.config.load_settings) names the deployed experiment / model of each key."""
    for job in jobs.values():
        for cluster in job["job_clusters"]:
            env = cluster["new_cluster"]["spark_env_vars"]
            for m in EXPERIMENTS:
                assert env[f"FITLAKE_MLFLOW_EXPERIMENT_{m.upper()}"] == f"${{resources.experiments.experiment_{m}.name}}"
            for m in MODELS:
                assert env[f"FITLAKE_UC_MODEL_{m.upper()}"] == f"${{resources.registered_models.model_{m}.name}}"


def bundle_validate(
    cli: Path, root: Path, target: str, tmp_path: Path, deploy_vars: dict[str, str] = DEPLOY_VARS
) -> tuple[subprocess.CompletedProcess, WorkspaceStandIn]:
    with WorkspaceStandIn() as workspace:
        env = cli_env(tmp_path / "home", DATABRICKS_HOST=workspace.host, DATABRICKS_TOKEN="dummy-test-token",
                      **deploy_vars)
        command = [str(cli), "bundle", "validate", "-t", target, "-o", "json"]
        out = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, timeout=120)
    return out, workspace


def test_bundle_files_validate_against_the_cli_schema(bundle_schema):
    assert len(BUNDLE_FILES) >= 4  # databricks.yml + one file per job
    out = check_jsonschema(bundle_schema, BUNDLE_FILES)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_cli_schema_rejects_an_unknown_job_field(bundle_schema, tmp_path):
    bad = tmp_path / "bad.job.yml"
    bad.write_text((REPO / "resources" / "fitlake_stream.job.yml").read_text().replace("max_concurrent_runs", "max_runs"))
    out = check_jsonschema(bundle_schema, [bad])
    assert out.returncode == 1 and "'max_runs' was unexpected" in out.stdout


def test_validate_dev_resolves_a_private_development_copy(databricks_cli, tmp_path):
    out, workspace = bundle_validate(databricks_cli, REPO, "dev", tmp_path)
    assert out.returncode == 0, out.stderr
    assert workspace.unexpected_requests() == []
    config = json.loads(out.stdout)
    assert config["bundle"]["mode"] == "development" and config["workspace"]["current_user"]["userName"] == USER_NAME
    schema = f"dev_{SHORT_NAME}_fitlake"  # development mode's prefix for Unity Catalog names
    resources = config["resources"]
    assert resources["schemas"]["fitlake"]["name"] == schema and resources["schemas"]["fitlake"]["catalog_name"] == "lake"
    volumes = resources["volumes"]
    assert {k: v["volume_path"] for k, v in volumes.items()} == {
        "landing": f"/Volumes/lake/{schema}/landing", "state": f"/Volumes/lake/{schema}/state"}
    assert all(v["schema_name"] == "${resources.schemas.fitlake.name}" for v in volumes.values())  # created after it
    jobs = resources["jobs"]
    assert set(jobs) == {"fitlake_batch", "fitlake_stream", "fitlake_retrain", "fitlake_maintenance"}
    batch = jobs["fitlake_batch"]
    assert batch["name"] == f"[dev {SHORT_NAME}] fitlake_batch"
    assert batch["schedule"]["pause_status"] == "PAUSED" and jobs["fitlake_stream"]["continuous"]["pause_status"] == "PAUSED"
    ingest = next(t for t in batch["tasks"] if t["task_key"] == "ingest")
    root_path = f"/Workspace/Users/{USER_NAME}/.bundle/fitlake/dev"
    assert config["workspace"]["root_path"] == root_path
    assert ingest["python_wheel_task"]["parameters"] == [
        "--target", "dev",
        "--catalog", "lake",
        "--schema", "${resources.schemas.fitlake.name}",  # the deployed name, filled in by the deploy
        "--root", f"/Volumes/lake/{schema}/state/lakehouse",
        "--landing", f"/Volumes/lake/{schema}/landing",
        "--step-goal", "10000",
        "--experiment-prefix", root_path,
    ]  # fmt: skip
    assert ingest["max_retries"] >= 1
    personas = next(t for t in batch["tasks"] if t["task_key"] == "train_personas")
    assert personas["notebook_task"]["base_parameters"] == {"target": "dev", "root": f"/Volumes/lake/{schema}/state/lakehouse"}
    cluster = batch["job_clusters"][0]["new_cluster"]
    env = cluster["spark_env_vars"]  # what notebooks read beyond their widgets
    assert env["FITLAKE_SCHEMA"] == "${resources.schemas.fitlake.name}" and env["FITLAKE_TARGET"] == "dev"
    assert cluster["node_type_id"] == "some-node-type"
    assert personas["notebook_task"]["notebook_path"].endswith("/files/src/notebooks/train_personas")
    assert "artifacts" in config and config["artifacts"]["fitlake_wheel"]["type"] == "whl"
    assert config["artifacts"]["fitlake_wheel"]["dynamic_version"] is True
    # MLflow: the experiments in the bundle's root folder (created before them), the models in the dev schema,
    # each by the name development mode gives it, and every cluster tells the code that name
    assert {k: v["name"] for k, v in resources["experiments"].items()} == {
        f"experiment_{m}": f"{root_path}/[dev {SHORT_NAME}] fitlake-{m}" for m in EXPERIMENTS}
    models = resources["registered_models"]
    assert {k: (v["catalog_name"], v["schema_name"], v["name"]) for k, v in models.items()} == {
        f"model_{m}": ("lake", "${resources.schemas.fitlake.name}", f"dev_{SHORT_NAME}_fitlake_{m}") for m in MODELS}
    assert_clusters_name_the_deployed_mlflow_resources(jobs)


def test_validate_without_a_catalog_fails_with_a_clear_error(databricks_cli, tmp_path):
    out, _ = bundle_validate(databricks_cli, REPO, "dev", tmp_path, deploy_vars={"BUNDLE_VAR_node_type_id": "n"})
    assert out.returncode != 0 and "no value assigned to required variable catalog" in out.stderr


def test_validate_prod_runs_unpaused_with_explicit_root_and_permissions(databricks_cli, tmp_path):
    out, workspace = bundle_validate(databricks_cli, REPO, "prod", tmp_path)
    assert out.returncode == 0, out.stderr
    assert workspace.unexpected_requests() == []
    config = json.loads(out.stdout)
    assert config["bundle"]["mode"] == "production"
    assert config["workspace"]["root_path"] == f"/Workspace/Users/{USER_NAME}/.bundle/fitlake/prod"
    assert {"user_name": USER_NAME, "level": "CAN_MANAGE"} in config["permissions"]
    jobs = config["resources"]["jobs"]
    assert jobs["fitlake_batch"]["name"] == "fitlake_batch" and jobs["fitlake_batch"]["schedule"]["pause_status"] == "UNPAUSED"
    assert jobs["fitlake_stream"]["continuous"]["pause_status"] == "UNPAUSED"
    assert config["variables"]["schema"]["value"] == "fitlake"
    resources = config["resources"]
    assert resources["schemas"]["fitlake"]["name"] == "fitlake"
    assert {v["volume_path"] for v in resources["volumes"].values()} == {"/Volumes/lake/fitlake/landing",
                                                                       "/Volumes/lake/fitlake/state"}
    root_path = f"/Workspace/Users/{USER_NAME}/.bundle/fitlake/prod"
    assert {k: v["name"] for k, v in resources["experiments"].items()} == {
        f"experiment_{m}": f"{root_path}/fitlake-{m}" for m in EXPERIMENTS}
    assert {k: (v["catalog_name"], v["schema_name"], v["name"]) for k, v in resources["registered_models"].items()} == {
        f"model_{m}": ("lake", "${resources.schemas.fitlake.name}", f"fitlake_{m}") for m in MODELS}
    assert_clusters_name_the_deployed_mlflow_resources(jobs)
    wheel_tasks = [t for j in jobs.values() for t in j["tasks"] if "python_wheel_task" in t]
    assert all(t["python_wheel_task"]["parameters"][:2] == ["--target", "prod"] for t in wheel_tasks)


def test_validate_local_target_too(databricks_cli, tmp_path):
    out, _ = bundle_validate(databricks_cli, REPO, "local", tmp_path)
    assert out.returncode == 0, out.stderr


def _with_all_notebooks(root: Path) -> Path:
    """Stand-in notebooks where the copy has none yet, so a negative test fails for its own reason only."""
    for job_file in (root / "resources").glob("*.yml"):
        for line in job_file.read_text().splitlines():
            if "notebook_path:" in line:
                path = (job_file.parent / line.split(":", 1)[1].strip()).resolve()
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("# Databricks notebook source\n")
    return root


def test_cli_validate_fails_on_an_undefined_variable(databricks_cli, bundle_copy, tmp_path):
    _with_all_notebooks(bundle_copy)
    edit(bundle_copy / "resources" / "fitlake_batch.job.yml", "${var.ml_spark_version}", "${var.ml_runtime}")
    out, _ = bundle_validate(databricks_cli, bundle_copy, "dev", tmp_path)
    assert out.returncode != 0 and "var.ml_runtime" in out.stderr


def test_cli_validate_fails_on_a_missing_notebook(databricks_cli, bundle_copy, tmp_path):
    _with_all_notebooks(bundle_copy)
    edit(bundle_copy / "resources" / "fitlake_retrain.job.yml", "notebooks/score.py", "notebooks/scores.py")
    out, _ = bundle_validate(databricks_cli, bundle_copy, "prod", tmp_path)
    assert out.returncode != 0 and "scores.py not found" in out.stderr
