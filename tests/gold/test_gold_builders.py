"""Value tests of the gold row builders the job calls (gold/job.py BUILDERS), each on a tiny DataFrame with the null
and zero cases that decide a KPI: missing is missing (null), not zero; a measured zero stays zero."""

from __future__ import annotations

import datetime as dt

from chispa import assert_approx_df_equality, assert_df_equality

from fitlake.gold import dims, facts, kpis

D = dt.date
T = dt.datetime


def test_build_dim_user_spans_wear_availability_and_latest_weight(spark):
    users = spark.createDataFrame([(1,), (1,), (2,), (3,)], "user_id BIGINT")
    daily = spark.createDataFrame(
        [(1, D(2016, 4, 1), 1000, False, "fitbit"),
         (1, D(2016, 4, 2), 0, True, "fitbit"),  # non-wear: counted as tracked, left out of the step mean
         (1, D(2016, 4, 3), 3000, False, "both"),
         (1, D(2016, 4, 4), None, False, "fitbit"),  # tracked, no steps: left out of the step mean
         (3, D(2016, 4, 5), None, True, "activity"),
         (4, D(2016, 4, 1), 99999, False, "activity")],  # not one of ``users``: counts for nothing
        "user_id BIGINT, date DATE, steps INT, is_non_wear BOOLEAN, source STRING",
    )
    sleep = spark.createDataFrame([(1, D(2016, 4, 1)), (1, D(2016, 4, 2)), (4, D(2016, 4, 1))],
                                  "user_id BIGINT, date DATE")
    weight = spark.createDataFrame(
        [(1, T(2016, 4, 1, 8), 72.0, 23.0), (1, T(2016, 4, 3, 8), 70.0, 22.0), (3, T(2016, 4, 5, 8), None, None),
         (4, T(2016, 4, 9, 8), 90.0, 30.0)],
        "user_id BIGINT, log_time TIMESTAMP, weight_kg DOUBLE, bmi DOUBLE",
    )
    out = dims.build_dim_user(users, daily, sleep, weight).orderBy("user_id")
    expected = spark.createDataFrame(
        [(1, D(2016, 4, 1), D(2016, 4, 4), 4, 1, 2000.0, True, True, 2, 2, 70.0, 22.0),
         # no data at all: zero counts, null span/means, false flags
         (2, None, None, 0, 0, None, False, False, 0, 0, None, None),
         # only a non-wear day: no step mean; a weight log without a value has a null latest weight
         (3, D(2016, 4, 5), D(2016, 4, 5), 1, 1, None, False, True, 0, 1, None, None)],
        "user_id BIGINT, first_date DATE, last_date DATE, days_tracked INT, non_wear_days INT, "
        "avg_daily_steps DOUBLE, has_fitbit_data BOOLEAN, has_activity_records BOOLEAN, sleep_nights INT, "
        "weight_logs INT, latest_weight_kg DOUBLE, latest_bmi DOUBLE",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_build_fact_sleep_renames_keys_and_nulls_efficiency_without_time_in_bed(spark):
    sleep_day = spark.createDataFrame(
        [(1, D(2016, 4, 12), 300, 400, 1), (2, D(2016, 4, 12), 0, 0, 1), (3, D(2016, 4, 13), None, 100, 2),
         (4, D(2016, 4, 13), 0, 50, 1)],
        "user_id BIGINT, sleep_date DATE, total_minutes_asleep INT, total_time_in_bed INT, total_sleep_records INT",
    )
    expected = spark.createDataFrame(
        [(1, D(2016, 4, 12), 20160412, 300, 400, 1, 0.75),
         (2, D(2016, 4, 12), 20160412, 0, 0, 1, None),  # zero time in bed: no efficiency, not 0 and not a crash
         (3, D(2016, 4, 13), 20160413, None, 100, 2, None),
         (4, D(2016, 4, 13), 20160413, 0, 50, 1, 0.0)],  # measured zero sleep is a zero efficiency
        "user_id BIGINT, date DATE, date_key INT, minutes_asleep INT, time_in_bed INT, sleep_records INT, "
        "sleep_efficiency DOUBLE",
    )
    assert_df_equality(facts.build_fact_sleep(sleep_day).orderBy("user_id"), expected, ignore_nullable=True)


def test_build_kpi_engagement_daily_skips_non_wear_and_counts_missing_minutes_as_zero(spark):
    daily = spark.createDataFrame(
        [(1, D(2016, 4, 1), 20160401, 30, False),
         (1, D(2016, 4, 2), 20160402, None, False),  # worn, no minutes recorded: 0
         (1, D(2016, 4, 3), 20160403, 100, True),  # non-wear: no row, not in any window
         (1, D(2016, 4, 9), 20160409, 10, False),  # window 3..9 holds only this day
         (2, D(2016, 4, 1), 20160401, 0, False)],
        "user_id BIGINT, date DATE, date_key INT, active_minutes INT, is_non_wear BOOLEAN",
    )
    expected = spark.createDataFrame(
        [(1, D(2016, 4, 1), 20160401, 30, 30.0, 1, 210.0, "High"),
         (1, D(2016, 4, 2), 20160402, 0, 15.0, 2, 105.0, "Medium"),
         (1, D(2016, 4, 9), 20160409, 10, 10.0, 1, 70.0, "Low"),
         (2, D(2016, 4, 1), 20160401, 0, 0.0, 1, 0.0, "Low")],
        "user_id BIGINT, date DATE, date_key INT, active_minutes INT, trailing_active_minutes DOUBLE, "
        "trailing_wear_days BIGINT, weekly_active_minutes DOUBLE, engagement_segment STRING",
    )
    out = kpis.build_kpi_engagement_daily(daily).orderBy("user_id", "date")
    assert_df_equality(out, expected, ignore_nullable=True)


def test_build_kpi_sleep_efficiency_trailing_mean_ignores_nights_without_efficiency(spark):
    sleep = spark.createDataFrame(
        [(1, D(2016, 4, 1), 20160401, 400, 500, 0.8),
         (1, D(2016, 4, 2), 20160402, 0, 0, None),  # no time in bed: not a night of the mean
         (1, D(2016, 4, 4), 20160404, 300, 500, 0.6),
         (1, D(2016, 4, 9), 20160409, 500, 500, 1.0),  # window 3..9: nights 4 and 9
         (2, D(2016, 4, 1), 20160401, 0, 0, None)],
        "user_id BIGINT, date DATE, date_key INT, minutes_asleep INT, time_in_bed INT, sleep_efficiency DOUBLE",
    )
    expected = spark.createDataFrame(
        [(1, D(2016, 4, 1), 20160401, 400, 500, 0.8, 0.8, 1),
         (1, D(2016, 4, 2), 20160402, 0, 0, None, 0.8, 1),
         (1, D(2016, 4, 4), 20160404, 300, 500, 0.6, 0.7, 2),
         (1, D(2016, 4, 9), 20160409, 500, 500, 1.0, 0.8, 2),
         (2, D(2016, 4, 1), 20160401, 0, 0, None, None, 0)],
        "user_id BIGINT, date DATE, date_key INT, minutes_asleep INT, time_in_bed INT, sleep_efficiency DOUBLE, "
        "trailing_sleep_efficiency DOUBLE, trailing_nights BIGINT",
    )
    completeness = spark.createDataFrame([], "user_id BIGINT, date DATE, missing_inputs STRING, quarantined_inputs STRING")
    out = kpis.build_kpi_sleep_efficiency(sleep, completeness).drop("incomplete_inputs").orderBy("user_id", "date")
    assert_approx_df_equality(out, expected, 1e-9, ignore_nullable=True)


def test_with_trailing_mean_is_per_user_past_only_and_counts_zero_not_null(spark):
    df = spark.createDataFrame(
        [(1, D(2016, 4, 1), 1.0), (1, D(2016, 4, 2), None), (1, D(2016, 4, 3), 3.0), (1, D(2016, 4, 4), 0.0),
         (1, D(2016, 4, 10), 5.0), (2, D(2016, 4, 1), 7.0), (3, D(2016, 4, 1), None)],
        "user_id BIGINT, day DATE, v DOUBLE",
    )
    out = kpis.with_trailing_mean(df, "v", "mean_v", "n_v", days=3, date_col="day").orderBy("user_id", "day")
    expected = spark.createDataFrame(
        [(1, D(2016, 4, 1), 1.0, 1.0, 1),  # no later day leaks in
         (1, D(2016, 4, 2), None, 1.0, 1),  # a null value is not counted
         (1, D(2016, 4, 3), 3.0, 2.0, 2),
         (1, D(2016, 4, 4), 0.0, 1.5, 2),  # window 2..4: the zero counts, day 1 has left the window
         (1, D(2016, 4, 10), 5.0, 5.0, 1),
         (2, D(2016, 4, 1), 7.0, 7.0, 1),  # user 1's days are not user 2's
         (3, D(2016, 4, 1), None, None, 0)],
        "user_id BIGINT, day DATE, v DOUBLE, mean_v DOUBLE, n_v BIGINT",
    )
    assert_df_equality(out, expected, ignore_nullable=True)
