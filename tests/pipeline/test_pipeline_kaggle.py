"""The real April-May 2016 Fitbit export (CC0, outside the repo): known facts survive the whole pipeline."""

from __future__ import annotations

import shutil

import pytest
from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.config import Settings

from pipeline_support import run

pytestmark = pytest.mark.e2e  # a whole pipeline run (or model training) per module: make test, not make test-fast


@pytest.fixture(scope="module")
def kaggle(spark, kaggle_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("kaggle")
    settings = Settings(root=root / "lakehouse", landing=root / "landing")
    export = settings.landing_dir / "fitbit" / kaggle_dir.name
    export.mkdir(parents=True)
    for f in kaggle_dir.glob("*.csv"):  # a tmp copy, never into the repo
        shutil.copy2(f, export / f.name)
    report = run(spark, settings)
    return settings, report


def _count(spark, settings, layer, name):
    ref = settings.table(layer, name)
    return delta_io.read(spark, ref).count() if delta_io.exists(spark, ref) else 0


def test_known_facts(spark, kaggle):
    settings, report = kaggle
    daily = delta_io.read(spark, settings.table("silver", "daily_activity"))
    assert daily.count() == 940
    assert daily.select("user_id").distinct().count() == 33
    assert daily.where("is_non_wear").count() >= 79  # every SedentaryMinutes = 1440 day, flagged not dropped
    sleep = {c.table: c for c in report.silver}["sleep_day"]
    assert (sleep.rows_in, sleep.duplicates, sleep.inserted) == (413, 3, 410)
    assert _count(spark, settings, "silver", "sleep_day") == 410
    assert _count(spark, settings, "silver", "hourly_steps") == 22099
    assert _count(spark, settings, "silver", "weight_log") == 67
    assert _count(spark, settings, "gold", "fact_daily_activity") == 940
    assert _count(spark, settings, "gold", "dim_user") == 33


def test_no_row_silently_lost(spark, kaggle):
    settings, report = kaggle
    for c in report.silver:
        bronze = _count(spark, settings, "bronze", c.table)
        silver = _count(spark, settings, "silver", c.table)
        quarantined = _count(spark, settings, "quarantine", c.table)
        assert c.reconciles, c.table
        assert bronze == c.rows_in == silver + quarantined + c.duplicates + c.updated + c.unchanged, c.table


def test_sleep_efficiency_and_wellness_on_real_data(spark, kaggle):
    settings, _ = kaggle
    fact_sleep = delta_io.read(spark, settings.table("gold", "fact_sleep"))
    assert fact_sleep.count() == 410
    assert fact_sleep.where((F.col("sleep_efficiency") <= 0) | (F.col("sleep_efficiency") > 1)).count() == 0
    wellness = delta_io.read(spark, settings.table("gold", "kpi_wellness_daily"))
    assert wellness.where("sleep_component_missing").count() > 0
    assert wellness.where(~F.col("sleep_component_missing")).count() > 0
