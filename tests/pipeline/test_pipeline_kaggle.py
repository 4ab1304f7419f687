"""The real April-May 2016 Fitbit export (CC0, outside the repo): known facts survive the whole pipeline."""

from __future__ import annotations

import shutil

import pytest

from fitlake import delta_io
from fitlake.config import Settings

from pipeline_support import count_rows, run

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


def _one(settings, layer, name, select):
    """``SELECT <select> FROM`` the table, answered by delta-rs (the independent reader; no Spark job per check)."""
    return delta_io.local_query(settings.table(layer, name).path, f"SELECT {select} FROM t")[0]


def test_known_facts(kaggle):
    settings, report = kaggle
    daily = _one(settings, "silver", "daily_activity",
                 "count(*) AS n, count(DISTINCT user_id) AS users, count(*) FILTER (WHERE is_non_wear) AS non_wear")
    assert daily["n"] == 940
    assert daily["users"] == 33
    assert daily["non_wear"] >= 79  # every SedentaryMinutes = 1440 day, flagged not dropped
    sleep = {c.table: c for c in report.silver}["sleep_day"]
    assert (sleep.rows_in, sleep.duplicates, sleep.inserted) == (413, 3, 410)
    assert count_rows(settings, "silver", "sleep_day") == 410
    assert count_rows(settings, "silver", "hourly_steps") == 22099
    assert count_rows(settings, "silver", "weight_log") == 67
    assert count_rows(settings, "gold", "fact_daily_activity") == 940
    assert count_rows(settings, "gold", "dim_user") == 33


def test_no_row_silently_lost(kaggle):
    settings, report = kaggle
    for c in report.silver:
        bronze = count_rows(settings, "bronze", c.table)
        silver = count_rows(settings, "silver", c.table)
        quarantined = count_rows(settings, "quarantine", c.table)
        assert c.reconciles, c.table
        assert bronze == c.rows_in == silver + quarantined + c.duplicates + c.updated + c.unchanged, c.table


def test_sleep_efficiency_and_wellness_on_real_data(kaggle):
    settings, _ = kaggle
    assert count_rows(settings, "gold", "fact_sleep") == 410
    assert count_rows(settings, "gold", "fact_sleep", "sleep_efficiency <= 0 OR sleep_efficiency > 1") == 0
    assert count_rows(settings, "gold", "kpi_wellness_daily", "sleep_component_missing") > 0
    assert count_rows(settings, "gold", "kpi_wellness_daily", "NOT sleep_component_missing") > 0
