"""Fixtures of the ML tests: one lakehouse root, and so one MLflow store, per test module."""

from __future__ import annotations

import pytest

from ml_synth import write_lakehouse


@pytest.fixture(scope="module")
def spark(spark):
    """The suite's session with Spark's compiled plans while an ML module runs (`fitlake train` does not interpret)."""
    from fitlake.spark import INTERPRETED

    compiled = {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"}
    assert compiled.keys() == INTERPRETED.keys()
    for key, value in compiled.items():
        spark.conf.set(key, value)
    yield spark
    for key, value in INTERPRETED.items():
        spark.conf.set(key, value)


@pytest.fixture(scope="module")
def ml_settings(tmp_path_factory):
    """One lakehouse root (and so one MLflow store) per test module."""
    from fitlake.config import Settings

    return Settings(root=tmp_path_factory.mktemp("ml") / "lakehouse")


@pytest.fixture(scope="module")
def ml_lakehouse(spark, ml_settings):
    write_lakehouse(spark, ml_settings)
    return ml_settings
