"""The wheel that the bundle's artifact step builds installs into a clean venv and exposes every entry point the
jobs use, each one wired to a command whose module is inside the wheel."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from fitlake_bundle import load_bundle

from fitlake.cli import COMMANDS

pytestmark = pytest.mark.slow


def job_entry_points() -> set[str]:
    bundle = load_bundle(REPO, target="dev", cli_vars={"catalog": "main", "node_type_id": "m5d.xlarge"})
    return {
        t["python_wheel_task"]["entry_point"]
        for job in bundle.jobs.values()
        for t in job.tasks
        if "python_wheel_task" in t
    }


def commands_called_by_jobs_module() -> dict[str, str]:
    """function name in fitlake/jobs.py -> the `fitlake` subcommand it runs (first argument of its _run call)."""
    tree = ast.parse((REPO / "src" / "fitlake" / "jobs.py").read_text())
    calls = {}
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_run" and node.args:
                    calls[fn.name] = node.args[0].value
    return calls


def build_artifact(tmp_path: Path) -> Path:
    """Run the artifact's own build command from databricks.yml on a copy of the project."""
    artifact = yaml.safe_load((REPO / "databricks.yml").read_text())["artifacts"]["fitlake_wheel"]
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, project / name)
    shutil.copytree(REPO / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    out = subprocess.run(
        artifact["build"], shell=True, cwd=project / artifact.get("path", "."), env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    wheels = sorted((project / "dist").glob("fitlake-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_artifact_wheel_installs_in_a_clean_venv_with_every_job_entry_point(tmp_path):
    wheel = build_artifact(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        files = set(zf.namelist())
        requires = [
            line for line in zf.read("fitlake-0.1.0.dist-info/METADATA").decode().splitlines() if line.startswith("Requires-Dist")
        ]
    # The Databricks Runtime brings Spark and Delta; a wheel pulling PyPI pyspark onto a cluster would shadow them.
    assert not [r for r in requires if ("pyspark" in r or "delta-spark" in r) and "extra ==" not in r]

    clean = tmp_path / "clean"
    venv.create(clean, with_pip=False)  # no dependencies: offline and fast; the metadata is what is checked
    python = clean / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)]
    out = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr

    probe = (
        "import json, importlib.metadata as m\n"
        "eps = [e for e in m.distribution('fitlake').entry_points if e.group == 'console_scripts']\n"
        "for e in eps: e.load()\n"  # fitlake.jobs / fitlake.cli import with the standard library alone
        "print(json.dumps({e.name: e.value for e in eps}))\n"
    )
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    installed = json.loads(out.stdout)
    needed = job_entry_points()
    assert needed and needed <= set(installed), needed - set(installed)
    assert all((clean / "bin" / name).is_file() for name in needed)

    calls = commands_called_by_jobs_module()
    for name in needed:
        function = installed[name].split(":")[1]
        module = COMMANDS[calls[function]][0]
        module_file = module.replace(".", "/") + ".py"
        assert module_file in files, f"{name} runs `fitlake {calls[function]}` but {module_file} is not in the wheel"
