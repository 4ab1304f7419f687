"""`fitlake run` on a real Spark standalone cluster (a master and two workers from the installed pyspark, on
127.0.0.1: separate executor JVMs, serialized closures, executors writing Delta) gives the same tables as `local[*]`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fitlake.config import TABLES, Settings

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

# Differ between any two runs by design: load/update times and the streaming batch id.
VOLATILE = {"_ingested_at", "_updated_at", "_quarantined_at", "_batch_id", "logged_at", "updated_at"}


def table_rows(root: Path) -> dict[str, list[tuple]]:
    from deltalake import DeltaTable

    from fitlake.delta_io import has_commit

    settings = Settings(root=root)
    out = {}
    for layer in ("bronze", "silver", "quarantine", "gold"):
        for name in TABLES[layer]:
            ref = settings.table(layer, name)
            if not has_commit(ref.path):
                continue
            data = DeltaTable(ref.path).to_pyarrow_table()
            cols = sorted(c for c in data.column_names if c not in VOLATILE)
            out[ref.full_name] = sorted(tuple(str(v) for v in row.values())
                                        for row in data.select(cols).to_pylist())
    return out


@pytest.fixture()
def cluster(tmp_path):
    import standalone_cluster

    c = standalone_cluster.start(tmp_path / "cluster", workers=2, cores=1, memory="1g",
                                 pythonpath=[str(REPO / "src")])
    yield c
    c.stop()


@pytest.mark.slow
def test_cluster_run_equals_local_run(spark, tmp_path, cluster):
    from fitlake.pipeline import run_pipeline

    landing = tmp_path / "landing"
    shutil.copytree(REPO / "fixtures" / "landing", landing)
    local = Settings(root=tmp_path / "local", landing=landing)
    run_pipeline(spark, local, say=lambda line: None)

    env = {**os.environ, "FITLAKE_SPARK_MASTER": cluster.master_url, "PYSPARK_PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "FITLAKE_DRIVER_MEMORY": "1g"}
    out = subprocess.run([sys.executable, "-m", "fitlake.cli", "run", "--root", str(tmp_path / "cluster_lake"),
                          "--landing", str(landing), "--no-generate"],
                         env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # the executors really were the workers' JVMs: each worker launched an executor for the app
    executor_dirs = [p for p in (cluster.work_dir).glob("worker*/app-*/*") if p.is_dir()]
    assert len({p.parents[1].name for p in executor_dirs}) == 2, executor_dirs

    local_rows, cluster_rows = table_rows(local.root), table_rows(tmp_path / "cluster_lake")
    assert sorted(cluster_rows) == sorted(local_rows)
    for name, rows in local_rows.items():
        assert cluster_rows[name] == rows, name
