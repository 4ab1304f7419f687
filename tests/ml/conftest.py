"""Fixtures of the ML tests: one lakehouse root, and so one MLflow store, per test module.

The suite's session interprets Spark plans (``spark.INTERPRETED``) with the JIT at C1, as `fitlake train` and
`fitlake score` do on inputs below ``FITLAKE_INTERPRETED_MAX_BYTES`` (``tracking.start_spark`` ->
``spark.small_input_options``): the ML modules run MLlib in that mode too (on the real export it fits the same
models with the same metrics)."""

from __future__ import annotations

import pytest

from ml_synth import write_lakehouse


@pytest.fixture(scope="module")
def ml_settings(tmp_path_factory):
    """One lakehouse root (and so one MLflow store) per test module."""
    from fitlake.config import Settings

    return Settings(root=tmp_path_factory.mktemp("ml") / "lakehouse")


@pytest.fixture(scope="module")
def ml_lakehouse(spark, ml_settings):
    write_lakehouse(spark, ml_settings)
    return ml_settings
