"""Gold formulas and row builders on tiny DataFrames: null, zero, bounds and window edges."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from fitlake.gold import dims, facts, kpis

D = dt.date


def test_wellness_score_is_bounded_and_renormalises_missing_sleep(spark):
    df = spark.createDataFrame(
        [(10000, 60, 8.0), (20000, 300, 7.0), (0, 0, 0.0), (5000, 30, None), (None, None, None), (0, 0, 15.0),
         (10000, 60, 3.5), (10000, 60, 10.5)],
        "steps INT, active_minutes INT, sleep_hours DOUBLE",
    )
    out = df.transform(kpis.with_wellness_score, 10000).select(
        "steps_component", "active_component", "sleep_component", "sleep_component_missing", "wellness_score")
    expected = spark.createDataFrame(
        [(1.0, 1.0, 1.0, False, 100.0),
         (1.0, 1.0, 1.0, False, 100.0),  # capped
         (0.0, 0.0, 0.0, False, 0.0),  # zero sleep is measured zero, not missing
         (0.5, 0.5, None, True, 50.0),  # renormalised over steps + active
         (None, None, None, True, None),
         (0.0, 0.0, 0.0, False, 0.0),  # oversleep floors at 0
         (1.0, 1.0, 0.5, False, 85.0),
         (1.0, 1.0, 0.5, False, 85.0)],
        "steps_component DOUBLE, active_component DOUBLE, sleep_component DOUBLE, "
        "sleep_component_missing BOOLEAN, wellness_score DOUBLE",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_sleep_efficiency_null_when_no_time_in_bed(spark):
    df = spark.createDataFrame([(300, 400), (0, 0), (None, 100), (100, None), (0, 50)],
                               "minutes_asleep INT, time_in_bed INT")
    expected = spark.createDataFrame(
        [(300, 400, 0.75), (0, 0, None), (None, 100, None), (100, None, None), (0, 50, 0.0)],
        "minutes_asleep INT, time_in_bed INT, sleep_efficiency DOUBLE",
    )
    assert_df_equality(df.transform(kpis.with_sleep_efficiency), expected, ignore_nullable=True)


def test_engagement_uses_only_the_trailing_week_and_no_future_days(spark):
    rows = [(1, D(2023, 4, 1), 40), (1, D(2023, 4, 2), 0), (1, D(2023, 4, 8), 10), (1, D(2023, 4, 9), 200),
            (2, D(2023, 4, 1), None)]
    df = spark.createDataFrame(rows, "user_id INT, date DATE, active_minutes INT")
    out = df.transform(kpis.with_engagement_segment).orderBy("user_id", "date")
    got = [(r["date"].day, r["trailing_active_minutes"], r["trailing_wear_days"], r["engagement_segment"])
           for r in out.collect()]
    assert got == [
        (1, 40.0, 1, "High"),  # 40 x 7 = 280 >= 150; day 2's zero is not seen (no future leak)
        (2, 20.0, 2, "Medium"),  # 20 x 7 = 140
        (8, 5.0, 2, "Low"),  # window 2..8 holds day 2 (0) and day 8 (10)
        (9, 105.0, 2, "High"),  # window 3..9: days 8 and 9
        (1, None, 0, None),  # no measured minutes: no segment
    ]


def test_engagement_segment_thresholds(spark):
    df = spark.createDataFrame([(150.0,), (149.9,), (75.0,), (0.0,), (None,)], "w DOUBLE")
    got = [r[0] for r in df.select(kpis.engagement_segment(F.col("w"))).collect()]
    assert got == ["High", "Medium", "Medium", "Low", None]


def test_dim_date_keys_and_iso_weeks(spark):
    df = spark.createDataFrame([(D(2016, 4, 12),), (D(2016, 4, 17),), (D(2016, 4, 17),), (None,)], "date DATE")
    out = dims.build_dim_date(df).orderBy("date")
    expected = spark.createDataFrame(
        [(20160412, D(2016, 4, 12), 2016, 4, 12, 2, False, D(2016, 4, 11)),
         (20160417, D(2016, 4, 17), 2016, 4, 17, 7, True, D(2016, 4, 11))],
        "date_key INT, date DATE, year INT, month INT, day_of_month INT, day_of_week INT, is_weekend BOOLEAN, "
        "week_start DATE",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def _daily_activity(spark, rows):
    return spark.createDataFrame(rows, "user_id BIGINT, activity_date DATE, total_steps INT, total_distance DOUBLE, "
                                       "very_active_minutes INT, fairly_active_minutes INT, lightly_active_minutes INT, "
                                       "sedentary_minutes INT, calories INT, is_non_wear BOOLEAN")


def _activity(spark, rows):
    return spark.createDataFrame(rows, "user_id BIGINT, date DATE, activity_type STRING, steps INT, "
                                       "calories_burned DOUBLE, heart_rate_avg DOUBLE, sleep_hours DOUBLE, "
                                       "duration_minutes INT, distance_km DOUBLE, is_non_wear BOOLEAN")


def test_fact_daily_activity_fitbit_wins_activity_enriches(spark):
    da = _daily_activity(spark, [(1, D(2023, 4, 1), 8000, 6.0, 20, 10, 200, 1000, 2100, False),
                                 (2, D(2023, 4, 1), 0, 0.0, 0, 0, 0, 1440, 1500, True)])
    a = _activity(spark, [(1, D(2023, 4, 1), "running", 7000, 2000.0, 140.0, 7.5, 45, 5.0, False),
                          (3, D(2023, 4, 1), "yoga", 0, 300.0, None, None, 60, None, False)])
    out = facts.build_fact_daily_activity(da, a).orderBy("user_id")
    got = [(r.user_id, r.steps, r.calories, r.activity_type_key, r.active_minutes, r.total_active_minutes,
            r.sleep_hours, r.is_non_wear, r.source, r.date_key) for r in out.collect()]
    assert got == [
        (1, 8000, 2100.0, dims.ACTIVITY_TYPE_KEYS["running"], 30, 230, 7.5, False, "both", 20230401),
        (2, 0, 1500.0, 0, 0, 0, None, True, "fitbit", 20230401),
        (3, 0, 300.0, dims.ACTIVITY_TYPE_KEYS["yoga"], 60, 60, None, False, "activity", 20230401),
    ]


def test_wellness_excludes_non_wear_days_and_prefers_logged_sleep(spark):
    daily = spark.createDataFrame(
        [(1, D(2023, 4, 1), 20230401, 10000, 60, 5.0, False), (1, D(2023, 4, 2), 20230402, 0, 0, None, True),
         (2, D(2023, 4, 1), 20230401, 5000, 30, None, False)],
        "user_id BIGINT, date DATE, date_key INT, steps INT, active_minutes INT, sleep_hours DOUBLE, is_non_wear BOOLEAN",
    )
    sleep = spark.createDataFrame([(1, D(2023, 4, 1), 480)], "user_id BIGINT, date DATE, minutes_asleep INT")
    completeness = spark.createDataFrame([(2, D(2023, 4, 1), "sleep_day,heartrate_seconds", None)],
                                         "user_id BIGINT, date DATE, missing_inputs STRING, quarantined_inputs STRING")
    out = kpis.build_kpi_wellness_daily(daily, sleep, 10000, completeness).orderBy("user_id")
    assert [(r.user_id, r.sleep_hours, r.wellness_score, r.sleep_component_missing, r.incomplete_inputs)
            for r in out.collect()] == [(1, 8.0, 100.0, False, None), (2, None, 50.0, True, "sleep_day:missing")]


def test_hourly_and_heart_rate_facts(spark):
    ts = dt.datetime(2016, 4, 12, 7, 0)
    steps = spark.createDataFrame([(1, ts, 100)], "user_id BIGINT, activity_hour TIMESTAMP, step_total INT")
    cals = spark.createDataFrame([(1, ts, 80), (2, ts, 70)], "user_id BIGINT, activity_hour TIMESTAMP, calories INT")
    ints = spark.createDataFrame([], "user_id BIGINT, activity_hour TIMESTAMP, total_intensity INT, average_intensity DOUBLE")
    hourly = facts.build_fact_hourly_activity(steps, cals, ints).orderBy("user_id")
    assert [(r.user_id, r.hour, r.steps, r.calories, r.total_intensity) for r in hourly.collect()] == [
        (1, 7, 100, 80, None), (2, 7, None, 70, None)]
    hr = spark.createDataFrame([(1, dt.datetime(2016, 4, 12, 7, 0, 5), 60), (1, dt.datetime(2016, 4, 12, 7, 59, 59), 90),
                                (1, dt.datetime(2016, 4, 12, 8, 0, 0), 70)], "user_id BIGINT, time TIMESTAMP, value INT")
    out = facts.build_fact_heart_rate(hr).orderBy("hour")
    assert [(r.hour.hour, r.avg_bpm, r.min_bpm, r.max_bpm, r.samples) for r in out.collect()] == [
        (7, 75.0, 60, 90, 2), (8, 70.0, 70, 70, 1)]
