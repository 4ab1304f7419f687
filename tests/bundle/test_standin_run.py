"""`fitlake bundle run fitlake_batch` and `fitlake_stream` (availableNow) `-t dev` against the stand-in workspace
(issue #18 Build 4): the dev target's task entry points, each a spark-submit, with Unity Catalog names, the bundle's
schema and Volumes and Auto Loader's contract, leave the same silver and gold rows as the local code path on the
same landing files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from baselines import fixture_landing_baseline
from conftest import REPO
from lake_snapshot import canonical
from output_excerpt import failure_excerpt
from pyspark.sql import functions as F

from fitlake.config import TABLES, Settings

pytestmark = pytest.mark.slow

LANDING = REPO / "fixtures" / "landing"
USER = "ci@example.com"  # short name "ci": development mode's schema is dev_ci_fitlake
SCHEMA = "dev_ci_fitlake"


def _comparable_table(path: Path, drop: tuple[str, ...] = ()):
    """A Delta table's rows without what differs by run on purpose (ingest/update times, batch ids, absolute file
    paths), read with delta-rs (no Spark job): the kept columns (in table order; not
    ``drop``) and the rows as an order-free multiset of text values (floats rounded as tests/faults/lake_snapshot.py
    does)."""
    from deltalake import DeltaTable

    df = DeltaTable(str(path)).to_pandas()
    kept = [c for c in df.columns if (not c.startswith("_") or c == "_line") and c not in drop]
    return canonical(df[kept]), kept


def test_dev_target_on_the_standin_workspace_equals_the_local_run(spark, request, tmp_path):
    """The dev target's rows = the session's `fitlake run` of the same landing files (tests/baselines.py: shared
    with the kill -9, bundle-local, end-to-end and maintain/forget suites, so this test pays for no second run)."""
    if not (LANDING / "_manifest.json").is_file():
        pytest.skip("fixtures/landing is not there")
    workspace = tmp_path / "ws"
    landing = workspace / "Volumes" / "spark_catalog" / SCHEMA / "landing"  # files uploaded to the landing Volume
    shutil.copytree(LANDING, landing, ignore=shutil.ignore_patterns("_manifest.json"))
    env = dict(os.environ, FITLAKE_STANDIN_WORKSPACE=str(workspace), USER=USER)
    env.setdefault("FITLAKE_JIT", "c1")  # ingest/silver/gold only: C1's less CPU (tests/faults/fault_jobs.job_env)
    env.pop("FITLAKE_LANDING", None)
    env.pop("FITLAKE_ROOT", None)
    command = [str(Path(sys.executable).parent / "fitlake"), "bundle", "run", "fitlake_batch", "-t", "dev",
               "--only", "ingest,silver,gold", "--var", "catalog=spark_catalog", "--var", "node_type_id=standin"]
    # the timeout only guards against a hang: three spark-submits take minutes on a loaded 2-core machine
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=2400, env=env)
    assert out.returncode == 0, failure_excerpt(out.stdout + out.stderr)
    assert f"stand-in deploy: schema spark_catalog.{SCHEMA}" in out.stdout
    tables = workspace / "catalog" / f"{SCHEMA}.db"  # managed tables of the dev schema: <layer>_<table>
    assert not (workspace / "Volumes" / "spark_catalog" / SCHEMA / "state" / "lakehouse" / "_run.lock").exists()

    # the local run: `fitlake run` of the same files (fixtures/landing; "_manifest.json" is a hidden file that
    # bronze never reads, and every column that names the landing path starts with "_" and is not compared)
    local_root = fixture_landing_baseline(request)["root"]
    compared = 0
    for layer in ("silver", "gold"):
        for name in TABLES[layer]:
            local_path = Path(local_root) / layer / name
            dev_path = tables / f"{layer}_{name}"
            local_exists = (local_path / "_delta_log").is_dir()
            assert local_exists == dev_path.is_dir(), f"{layer}.{name}: exists on one target only"
            if not local_exists:
                continue
            want, cols = _comparable_table(local_path)
            got, dev_cols = _comparable_table(dev_path)
            assert dev_cols == cols, f"{layer}.{name}"
            assert got == want, f"{layer}.{name}: dev and local rows differ"
            compared += bool(want)
    assert compared >= 10  # silver and gold tables with rows, not a comparison of empty tables
    # the dev run left its checkpoints and schema locations in the state Volume, nothing under a local root
    state = workspace / "Volumes" / "spark_catalog" / SCHEMA / "state"
    assert (state / "_schemas" / "daily_activity").is_dir() and (state / "_checkpoints" / "bronze").is_dir()
    assert spark.read.format("delta").load(str(tables / "ops_run_log")).where(F.col("target") == "dev").count() > 0


EVENTS = REPO / "fixtures" / "events"
STREAM_TABLES = (("bronze", "events"), ("silver", "events"), ("gold", "event_windows"), ("gold", "event_daily_steps"),
                 ("gold", "goal_alerts"))


def test_stream_job_on_the_dev_target_equals_the_local_run(spark, tmp_path, monkeypatch):
    """`fitlake_stream` of the dev target, availableNow (as `databricks bundle run fitlake_stream --python-params`
    would start it once), through Auto Loader's stand-in on the landing Volume: first on an empty Volume (no
    events/ yet: "no files yet", not CF_EMPTY_DIR_FOR_SCHEMA_INFERENCE and a retry loop), then on the fixture
    events - the rows of `fitlake stream --available-now` on the same files."""
    from fitlake_bundle import load_bundle, run_job

    from fitlake.streaming.job import StreamOptions, run_stream

    workspace = tmp_path / "ws"
    landing = workspace / "Volumes" / "spark_catalog" / SCHEMA / "landing"
    monkeypatch.setenv("FITLAKE_STANDIN_WORKSPACE", str(workspace))
    # the stream job's spark-submits: no training, C1's less CPU (tests/faults/fault_jobs.job_env)
    monkeypatch.setenv("FITLAKE_JIT", os.environ.get("FITLAKE_JIT", "c1"))
    monkeypatch.delenv("FITLAKE_LANDING", raising=False)
    monkeypatch.delenv("FITLAKE_ROOT", raising=False)
    bundle = load_bundle(REPO, target="dev", cli_vars={"catalog": "spark_catalog", "node_type_id": "standin"}, user=USER)
    job = bundle.jobs["fitlake_stream"]
    assert job.spec["continuous"] and [t["task_key"] for t in job.tasks] == ["stream"]
    job.spec["tasks"][0]["python_wheel_task"]["parameters"].append("--available-now")  # the one-off run
    lines: list[str] = []
    for run in ("empty", "events"):
        if run == "events":
            shutil.copytree(EVENTS, landing / "events", dirs_exist_ok=True)  # files uploaded to the Volume
        result = run_job(bundle, "fitlake_stream", echo=lines.append)
        assert result.returncode == 0, "\n".join(lines[-20:])
    assert f"stand-in deploy: schema spark_catalog.{SCHEMA}" in lines

    local = Settings(root=tmp_path / "local", landing=landing)
    summary = run_stream(spark, local, StreamOptions(available_now=True), poll_seconds=0.2)
    assert summary["events_in"] > 0
    tables = workspace / "catalog" / f"{SCHEMA}.db"
    compared = 0
    for layer, name in STREAM_TABLES:
        want, cols = _comparable_table(Path(local.table(layer, name).path), drop=("alerted_at",))
        got, dev_cols = _comparable_table(tables / f"{layer}_{name}", drop=("alerted_at",))
        assert dev_cols == cols, f"{layer}.{name}"
        assert got == want, f"{layer}.{name}: dev and local rows differ"
        compared += bool(want)
    assert compared >= 4  # bronze, silver, windows and daily totals have rows
    state = workspace / "Volumes" / "spark_catalog" / SCHEMA / "state"
    assert (state / "_checkpoints" / "streaming").is_dir() and (state / "_schemas" / "events").is_dir()
    assert not (state / "_checkpoints" / "streaming" / ".lock").exists()  # no local lock off local
