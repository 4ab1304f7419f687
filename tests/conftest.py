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
# The fixture landing and the generator's day folders are month-first files whose days are all 12 or less: their own
# values cannot decide the date order (fitlake.bronze.formats), so the suite says it, as a user would. Tests of the
# undecided case pass Settings(date_order=None) or clear this.
os.environ.setdefault("FITLAKE_DATE_ORDER", "month_first")


@pytest.fixture(scope="session")
def spark_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lakehouse")


@pytest.fixture(scope="session")
def spark(spark_root):
    from fitlake.config import Settings
    from fitlake.spark import INTERPRETED, get_spark

    # The suite's tables are tiny, as a small `fitlake run` is: plans interpreted, not compiled (spark.execution_conf);
    # tests/ml switches compiled plans back on for its modules, as `fitlake train` runs them.
    session = get_spark(
        Settings(root=spark_root),
        app_name="fitlake-tests",
        conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2", **INTERPRETED},
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
