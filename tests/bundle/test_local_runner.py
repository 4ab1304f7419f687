"""`fitlake bundle run` end to end on a tiny bundle: each task type runs under spark-submit in dependency order,
a task gets Delta from the command-line jars, and the first failing task stops the job and is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

TINY_BUNDLE = """
bundle:
  name: tiny
variables:
  root:
    default: lakehouse
  rows:
    default: "3"
targets:
  local:
    default: true
resources:
  jobs:
    tiny:
      name: tiny
      tasks:
        - task_key: never
          depends_on: [{task_key: fail}]
          spark_python_task:
            python_file: src/fail.py
        - task_key: notebook
          depends_on: [{task_key: wheel}]
          notebook_task:
            notebook_path: src/write_delta
            base_parameters:
              root: ${var.root}
              rows: ${var.rows}
        - task_key: wheel
          python_wheel_task:
            package_name: fitlake
            entry_point: fitlake
            parameters: ["--version"]
        - task_key: fail
          depends_on: [{task_key: notebook}]
          spark_python_task:
            python_file: src/fail.py
            parameters: ["3"]
"""

# A Databricks-source notebook that takes its widgets as --name value, as fitlake's notebooks do locally.
WRITE_DELTA = """# Databricks notebook source
import argparse
from pathlib import Path
from fitlake.config import Settings
from fitlake.spark import get_spark

# COMMAND ----------
parser = argparse.ArgumentParser()
parser.add_argument("--root")
parser.add_argument("--rows", type=int)
args = parser.parse_args()
root = Path(args.root).resolve()
spark = get_spark(Settings(root=root))
spark.range(args.rows).write.format("delta").mode("overwrite").save(str(root / "t"))
(root / "rows.txt").write_text(str(spark.read.format("delta").load(str(root / "t")).count()))
"""


@pytest.fixture()
def tiny_bundle(tmp_path) -> Path:
    root = tmp_path / "tiny"
    (root / "src").mkdir(parents=True)
    (root / "databricks.yml").write_text(TINY_BUNDLE)
    (root / "src" / "write_delta.py").write_text(WRITE_DELTA)
    (root / "src" / "fail.py").write_text("import sys\nprint('failing on purpose')\nsys.exit(int(sys.argv[1]))\n")
    return root


def test_bundle_run_executes_tasks_in_order_and_stops_at_the_first_failure(tiny_bundle):
    command = [str(Path(sys.executable).parent / "fitlake"), "bundle", "--bundle-root", str(tiny_bundle), "run", "tiny"]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 3, out.stdout + out.stderr
    starts = [line.split()[2] for line in out.stdout.splitlines() if line.startswith("==> ")]
    assert starts == ["wheel", "notebook", "fail"]  # dependency order, not file order; `never` never starts
    assert "fitlake 0.1.0" in out.stdout  # the wheel's entry point ran with its parameters
    assert (tiny_bundle / "lakehouse" / "rows.txt").read_text() == "3"  # Delta jars + conf came from spark-submit
    assert "job tiny: task fail failed with exit code 3" in out.stdout and "not run: never" in out.stdout
