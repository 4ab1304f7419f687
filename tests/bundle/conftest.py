"""Fixtures for the bundle tests: the local runner package, a scratch copy of the bundle, the Databricks CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".cache" / "bin" / "databricks"
sys.path.insert(0, str(REPO / "bundle"))  # the runner lives beside databricks.yml, not in the wheel
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture()
def bundle_copy(tmp_path) -> Path:
    """The repo's bundle (databricks.yml, resources/, pyproject.toml, src/) in a scratch folder to break on purpose."""
    target = tmp_path / "bundle_copy"
    target.mkdir()
    for name in ("databricks.yml", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    for folder in ("resources", "src"):
        shutil.copytree(REPO / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


@pytest.fixture(scope="session")
def databricks_cli() -> Path:
    """The CLI built by `make databricks-cli`: missing fails the test (CI builds it), unless explicitly skipped."""
    if os.environ.get("FITLAKE_SKIP_DATABRICKS_CLI") == "1":
        pytest.skip("FITLAKE_SKIP_DATABRICKS_CLI=1: Databricks CLI tests skipped on request")
    if not os.access(CLI, os.X_OK):
        pytest.fail(f"{CLI} is missing: run `make databricks-cli` (or set FITLAKE_SKIP_DATABRICKS_CLI=1 to skip)")
    return CLI


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """No ambient Databricks auth or bundle variables, no telemetry, no ~/.databrickscfg."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "BUNDLE_VAR_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        DATABRICKS_CONFIG_FILE=str(home / "no.databrickscfg"),
        DATABRICKS_CLI_DO_NOT_TRACK="true",
        DO_NOT_TRACK="1",
        **extra,
    )
    return env


@pytest.fixture(scope="session")
def bundle_schema(databricks_cli, tmp_path_factory) -> Path:
    """The CLI's own bundle JSON schema, generated now (never copied into the repo)."""
    home = tmp_path_factory.mktemp("cli_home")
    out = subprocess.run(
        [str(databricks_cli), "bundle", "schema"], capture_output=True, text=True, env=cli_env(home), timeout=60
    )
    assert out.returncode == 0, out.stderr
    path = home / "bundle_schema.json"
    path.write_text(out.stdout)
    return path
