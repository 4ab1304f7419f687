"""One session-scoped, Delta-enabled local SparkSession for the whole suite (UI off, 2 shuffle partitions, UTC)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
KAGGLE = SHARED / "datasets" / "fitbit-kaggle" / "2016-04-12_2016-05-12"
FIXTURES = REPO / "fixtures"

os.environ.setdefault("FITLAKE_JARS_DIR", str(REPO / ".cache" / "jars"))
os.environ.setdefault("FITLAKE_SHUFFLE_PARTITIONS", "2")
os.environ.setdefault("FITLAKE_DRIVER_MEMORY", "3g")


@pytest.fixture(scope="session")
def spark_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lakehouse")


@pytest.fixture(scope="session")
def spark(spark_root):
    from fitlake.config import Settings
    from fitlake.spark import get_spark

    session = get_spark(
        Settings(root=spark_root),
        app_name="fitlake-tests",
        conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"},
    )
    yield session
    session.stop()


@pytest.fixture()
def settings(tmp_path):
    """Settings with a fresh lakehouse root per test (the session is shared; tables live under this root)."""
    from fitlake.config import Settings

    return Settings(root=tmp_path / "lakehouse")


@pytest.fixture(scope="session")
def kaggle_dir() -> Path:
    if not KAGGLE.is_dir():
        pytest.skip(f"real Fitbit export not present at {KAGGLE}")
    return KAGGLE
