"""The gold builders that combine several inputs per key (gold.fact_hourly_activity of the three hourly silver
tables, gold.data_completeness of the per-day inputs) on the cases a combination can get wrong: a key in one input
only, a present row whose values are null (present, so not named missing), a measured zero, an empty input, and
every quarantine input at once (their names in alphabetical order)."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from fitlake.gold import facts

D = dt.date
T = dt.datetime
H7, H8, H9 = T(2016, 4, 12, 7), T(2016, 4, 12, 8), T(2016, 4, 13, 23)
STEPS = "user_id BIGINT, activity_hour TIMESTAMP, step_total INT"
CALORIES = "user_id BIGINT, activity_hour TIMESTAMP, calories INT"
INTENSITIES = "user_id BIGINT, activity_hour TIMESTAMP, total_intensity INT, average_intensity DOUBLE"
HOURLY_OUT = ("user_id BIGINT, activity_hour TIMESTAMP, date DATE, hour INT, steps INT, calories INT, "
              "total_intensity INT, average_intensity DOUBLE, missing_inputs STRING")


def test_fact_hourly_activity_keeps_an_absent_input_apart_from_a_null_value(spark):
    steps = spark.createDataFrame([(1, H7, None), (1, H8, 0), (3, H9, 5)], STEPS)  # (1, 7h): a row, no value
    calories = spark.createDataFrame([(1, H7, 80), (2, H7, 0)], CALORIES)
    intensities = spark.createDataFrame([(1, H7, 3, None), (1, H8, 0, 0.0), (2, H8, None, None)], INTENSITIES)
    out = facts.build_fact_hourly_activity(steps, calories, intensities).orderBy("user_id", "activity_hour")
    expected = spark.createDataFrame(
        [(1, H7, D(2016, 4, 12), 7, None, 80, 3, None, None),  # every input has a row: nothing missing
         (1, H8, D(2016, 4, 12), 8, 0, None, 0, 0.0, "hourly_calories"),  # measured zeros stay zeros
         (2, H7, D(2016, 4, 12), 7, None, 0, None, None, "hourly_steps,hourly_intensities"),
         (2, H8, D(2016, 4, 12), 8, None, None, None, None, "hourly_steps,hourly_calories"),  # a null-only row
         (3, H9, D(2016, 4, 13), 23, 5, None, None, None, "hourly_calories,hourly_intensities")],
        HOURLY_OUT,
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_fact_hourly_activity_of_empty_inputs(spark):
    empty_steps, empty_calories = spark.createDataFrame([], STEPS), spark.createDataFrame([], CALORIES)
    empty_intensities = spark.createDataFrame([], INTENSITIES)
    none = facts.build_fact_hourly_activity(empty_steps, empty_calories, empty_intensities)
    assert_df_equality(none, spark.createDataFrame([], HOURLY_OUT), ignore_nullable=True)
    # one input empty: named missing on every row, the others' values kept
    calories = spark.createDataFrame([(1, H7, 80)], CALORIES)
    intensities = spark.createDataFrame([(1, H7, 3, 0.05)], INTENSITIES)
    out = facts.build_fact_hourly_activity(empty_steps, calories, intensities)
    assert_df_equality(out, spark.createDataFrame([(1, H7, D(2016, 4, 12), 7, None, 80, 3, 0.05, "hourly_steps")],
                                                  HOURLY_OUT), ignore_nullable=True)


DAYS = "user_id BIGINT, date DATE"
A, B, C = D(2016, 4, 12), D(2016, 4, 13), D(2016, 4, 14)
COMPLETENESS_OUT = (
    "user_id BIGINT, date DATE, date_key INT, has_daily_activity BOOLEAN, has_activity_record BOOLEAN, "
    "has_sleep BOOLEAN, hourly_complete_hours INT, hourly_coverage DOUBLE, heart_rate_hours INT, "
    "missing_inputs STRING, quarantined_inputs STRING, quarantined_rows BIGINT, is_complete BOOLEAN")


def test_data_completeness_of_days_each_known_to_one_input(spark):
    """A day seen only in the hourly fact (with every hour incomplete), only in heart rate, only as a sleep
    record, and a day with rows quarantined from every input: each input's contribution stands alone."""
    empty = spark.createDataFrame([], DAYS)
    sleep = spark.createDataFrame([(3, C), (3, C)], DAYS)  # one night, as two rows: still one day
    hourly = spark.createDataFrame([(1, A, "hourly_steps,hourly_calories,hourly_intensities")] * 24,
                                   "user_id BIGINT, date DATE, missing_inputs STRING")
    heart = spark.createDataFrame([(2, B)] * 24, DAYS)
    names = ["sleep_day", "heartrate_seconds", "activity", "hourly_intensities", "daily_activity", "hourly_steps",
             "hourly_calories"]
    quarantined = spark.createDataFrame([(4, A, n, i + 1) for i, n in enumerate(names)],
                                        "user_id BIGINT, date DATE, input STRING, rows BIGINT")
    out = facts.build_data_completeness(empty, empty, sleep, hourly, heart, quarantined).orderBy("user_id", "date")
    every = "daily_activity,sleep_day,hourly_steps,hourly_calories,hourly_intensities,heartrate_seconds"
    expected = spark.createDataFrame(
        # 24 hourly rows, each without any hourly input: zero complete hours, every hourly input missing
        [(1, A, 20160412, False, False, False, 0, 0.0, 0, every, None, 0, False),
         (2, B, 20160413, False, False, False, 0, 0.0, 24,
          "daily_activity,sleep_day,hourly_steps,hourly_calories,hourly_intensities", None, 0, False),
         (3, C, 20160414, False, False, True, 0, 0.0, 0,
          "daily_activity,hourly_steps,hourly_calories,hourly_intensities,heartrate_seconds", None, 0, False),
         (4, A, 20160412, False, False, False, 0, 0.0, 0, every, ",".join(sorted(names)), 28, False)],
        COMPLETENESS_OUT,
    )
    assert_df_equality(out, expected, ignore_nullable=True)
