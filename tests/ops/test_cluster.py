"""A real multi-process cluster gives the same tables as local[*].

A Spark standalone master and two workers (1 core, 1 GB each) from the installed pyspark on 127.0.0.1
(``scripts/standalone_cluster.py``); ``fitlake run``, ``train``, ``score`` and ``stream --available-now`` run as
CLI processes against it (``FITLAKE_SPARK_MASTER``) — separate executor JVMs, no shared driver memory, serialized
closures, executors writing Delta — and the same four commands run on ``local[*]`` over the same landing
(fixtures/landing + fixtures/events). Every table of both lakehouses is then compared row by row (read with
delta-rs), leaving out only columns that record *when* a row was written or which MLflow run wrote it.
Everything the test starts (daemons, executors, CLI processes) is killed by process group, also on failure.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fitlake.config import TABLES

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
COMMANDS = (("run", "--no-generate"), ("train",), ("score",), ("stream", "--available-now"))
# What differs between two runs of the same job on the same input, cluster or not: write times, run ids, timings,
# gold.model_monitoring's batch_id (a hash over the scored rows' id columns; seen to differ between the two runs).
VOLATILE = re.compile(r"(^_ingested_at$|_at$|^run_id$|_run_id$|^batch_id$|^mlflow_|^model_version$|^seconds$|_s$|_ms$|"
                      r"^duration|^started|^finished|^logged|^processed_time$|^now$)")

# A standalone master and two workers beside the rest of the suite on 2 cores: its own target (`make test-cluster`).
pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def _import_cluster():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import standalone_cluster
    finally:
        sys.path.pop(0)
    return standalone_cluster


def _fitlake(args: list[str], env: dict[str, str], log: Path, timeout: float = 1500) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "fitlake.cli", *args], env=env, stdout=log.open("a"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        try:  # the CLI's own process group: its JVM and any Python worker left behind (or all of it on a timeout)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert rc == 0, f"fitlake {' '.join(args)} failed ({rc}):\n{log.read_text()[-4000:]}"


def _build(root: Path, landing: Path, master: str | None, log: Path) -> None:
    env = {**os.environ, "FITLAKE_DRIVER_MEMORY": "1g", "FITLAKE_SHUFFLE_PARTITIONS": "2",
           "PYSPARK_PYTHON": sys.executable}
    env.pop("FITLAKE_SPARK_MASTER", None)
    if master:
        env["FITLAKE_SPARK_MASTER"] = master
    for name, *extra in COMMANDS:
        with log.open("a") as f:
            f.write(f"\n$ fitlake {name} {' '.join(extra)}  (master {master or 'local[*]'})\n")
        _fitlake([name, "--root", str(root), "--landing", str(landing), *extra], env, log)


def _normal(v):
    if isinstance(v, float):
        return None if math.isnan(v) else float(f"{v:.9g}")  # last-bit float noise of a different sum order
    if isinstance(v, dict):
        return tuple(sorted((k, _normal(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_normal(x) for x in v)
    return v


def table_rows(path: Path) -> tuple[list[str], list[tuple]]:
    from deltalake import DeltaTable

    data = DeltaTable(str(path)).to_pyarrow_table()
    columns = [c for c in data.column_names if not VOLATILE.search(c)]
    rows = data.select(columns).to_pylist()
    return columns, sorted((tuple(_normal(r[c]) for c in columns) for r in rows), key=repr)


def tables_of(root: Path) -> dict[str, Path]:
    return {f"{layer}.{name}": root / layer / name for layer, names in TABLES.items() for name in names
            if (root / layer / name / "_delta_log").is_dir()}


def test_standalone_cluster_run_equals_local_run(tmp_path):
    standalone_cluster = _import_cluster()
    landing = tmp_path / "landing"
    shutil.copytree(FIXTURES / "landing", landing)
    shutil.copytree(FIXTURES / "events", landing / "events")
    local_root, cluster_root = tmp_path / "local" / "lakehouse", tmp_path / "cluster" / "lakehouse"

    _build(local_root, landing, None, tmp_path / "local.log")
    cluster = standalone_cluster.start(tmp_path / "standalone", workers=2, cores=1, memory="1g",
                                       pythonpath=[str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    try:
        _build(cluster_root, landing, cluster.master_url, tmp_path / "cluster.log")
        app_logs = list((tmp_path / "standalone").glob("worker*/app-*/*/stderr"))
    finally:
        cluster.stop()
    assert all(p.poll() is not None for p in cluster.procs)
    # the jobs really ran on the workers' executors (one executor folder per worker and command)
    assert {p.parts[-4] for p in app_logs} == {"worker0", "worker1"}, app_logs
    assert len({p.parts[-3] for p in app_logs}) >= len(COMMANDS)

    local, remote = tables_of(local_root), tables_of(cluster_root)
    assert sorted(local) == sorted(remote)
    for layer in ("bronze", "silver", "gold"):
        assert any(name.startswith(layer + ".") for name in local), layer
    assert {"gold.event_windows", "silver.events"} <= set(local)
    scored = [n for n in local if re.search(r"persona|prediction|recommend", n)]
    assert scored, sorted(local)  # train + score wrote their outputs
    differing = []
    for name in sorted(local):
        cols_l, rows_l = table_rows(local[name])
        cols_c, rows_c = table_rows(remote[name])
        assert cols_l == cols_c, name
        if rows_l != rows_c:
            differing.append(f"{name}: {len(rows_l)} local rows vs {len(rows_c)} cluster rows, first difference "
                             f"{next(((a, b) for a, b in zip(rows_l, rows_c) if a != b), None)}")
    assert not differing, "\n".join(differing)
    assert sum(len(table_rows(p)[1]) for p in local.values()) > 0
