"""gold.data_completeness and the KPI rows' ``incomplete_inputs`` on tiny DataFrames: a complete day, a day with a
missing night, a partial hour and quarantined rows, an activity-export day (no hourly or heart-rate files), a day
known only from quarantine (everything missing), and no input at all."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from fitlake.gold import facts, kpis

D = dt.date
A, B = D(2016, 4, 12), D(2016, 4, 13)
DAYS = "user_id BIGINT, date DATE"
HOURLY = "user_id BIGINT, date DATE, missing_inputs STRING"
QUARANTINED = "user_id BIGINT, date DATE, input STRING, rows BIGINT"
OUT = ("user_id BIGINT, date DATE, date_key INT, has_daily_activity BOOLEAN, has_activity_record BOOLEAN, "
       "has_sleep BOOLEAN, hourly_complete_hours INT, hourly_coverage DOUBLE, heart_rate_hours INT, "
       "missing_inputs STRING, quarantined_inputs STRING, quarantined_rows BIGINT, is_complete BOOLEAN")
ALL_HOURLY = "hourly_steps,hourly_calories,hourly_intensities"


def test_build_data_completeness_names_missing_and_quarantined_inputs_per_day(spark):
    daily = spark.createDataFrame([(1, A), (1, B)], DAYS)
    activity = spark.createDataFrame([(2, A)], DAYS)
    sleep = spark.createDataFrame([(1, A)], DAYS)
    hourly = spark.createDataFrame(
        [(1, A, None)] * 24  # every hour has all three inputs
        + [(1, B, None)] * 22 + [(1, B, "hourly_steps"), (1, B, "hourly_steps,hourly_intensities")],
        HOURLY,
    )
    heart = spark.createDataFrame([(1, A)] * 3, DAYS)  # three hours with samples
    quarantined = spark.createDataFrame(
        [(1, B, "sleep_day", 2), (1, B, "hourly_steps", 1),
         (3, A, "daily_activity", 1), (3, A, "hourly_steps", 24)],  # a day whose every row was quarantined
        QUARANTINED,
    )
    out = facts.build_data_completeness(daily, activity, sleep, hourly, heart, quarantined).orderBy("user_id", "date")
    expected = spark.createDataFrame(
        [(1, A, 20160412, True, False, True, 24, 1.0, 3, None, None, 0, True),
         # no night, 22 complete hours (steps missing in two, intensities in one), no heart rate, quarantined rows
         (1, B, 20160413, True, False, False, 22, 22 / 24, 0, f"sleep_day,hourly_steps,hourly_intensities,"
          "heartrate_seconds", "hourly_steps,sleep_day", 3, False),
         # an activity-export day: the daily record is there, the Fitbit-only inputs are not (zero, not null)
         (2, A, 20160412, False, True, False, 0, 0.0, 0, f"sleep_day,{ALL_HOURLY},heartrate_seconds", None, 0,
          False),
         # known only from quarantine: everything missing, and said why
         (3, A, 20160412, False, False, False, 0, 0.0, 0, f"daily_activity,sleep_day,{ALL_HOURLY},heartrate_seconds",
          "daily_activity,hourly_steps", 25, False)],
        OUT,
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_build_data_completeness_of_nothing_is_empty(spark):
    empty = spark.createDataFrame([], DAYS)
    out = facts.build_data_completeness(empty, empty, empty, spark.createDataFrame([], HOURLY), empty,
                                        spark.createDataFrame([], QUARANTINED))
    assert out.count() == 0
    assert_df_equality(out, spark.createDataFrame([], OUT), ignore_nullable=True)


def test_kpi_rows_name_the_inputs_they_use_that_were_incomplete(spark):
    completeness = spark.createDataFrame(
        [(1, A, None, None),  # complete
         (1, B, "sleep_day,hourly_steps", "daily_activity"),  # hourly is not a wellness input: not named
         (2, A, "hourly_steps,heartrate_seconds", "sleep_day,hourly_steps"),
         (2, B, "daily_activity", "activity")],
        "user_id BIGINT, date DATE, missing_inputs STRING, quarantined_inputs STRING",
    )
    daily = spark.createDataFrame(
        [(1, A, 20160412, 10000, 60, None, False), (1, B, 20160413, 5000, 30, None, False),
         (2, A, 20160412, 0, 0, None, False), (2, B, 20160413, 1000, 10, 7.0, False),
         (3, A, 20160412, None, None, None, False)],  # no completeness row: nothing is claimed
        "user_id BIGINT, date DATE, date_key INT, steps INT, active_minutes INT, sleep_hours DOUBLE, "
        "is_non_wear BOOLEAN",
    )
    sleep = spark.createDataFrame([(1, A, 480), (2, A, 400)], "user_id BIGINT, date DATE, minutes_asleep INT")
    wellness = kpis.build_kpi_wellness_daily(daily, sleep, 10000, completeness)
    got = wellness.select("user_id", "date", "incomplete_inputs").orderBy("user_id", "date")
    expected = spark.createDataFrame(
        [(1, A, None), (1, B, "daily_activity:quarantined,sleep_day:missing"), (2, A, "sleep_day:quarantined"),
         (2, B, "daily_activity:missing,activity:quarantined"), (3, A, None)],
        "user_id BIGINT, date DATE, incomplete_inputs STRING",
    )
    assert_df_equality(got, expected, ignore_nullable=True)

    nights = spark.createDataFrame(
        [(1, A, 20160412, 400, 500, 0.8), (2, A, 20160412, 300, 0, None)],
        "user_id BIGINT, date DATE, date_key INT, minutes_asleep INT, time_in_bed INT, sleep_efficiency DOUBLE",
    )
    efficiency = kpis.build_kpi_sleep_efficiency(nights, completeness)
    got = efficiency.select("user_id", "date", "incomplete_inputs").orderBy("user_id")
    expected = spark.createDataFrame([(1, A, None), (2, A, "sleep_day:quarantined")],
                                     "user_id BIGINT, date DATE, incomplete_inputs STRING")
    assert_df_equality(got, expected, ignore_nullable=True)


def test_run_summary_counts_complete_days_and_each_inputs_gaps(spark):
    from fitlake.gold.job import completeness_summary

    rows = spark.createDataFrame(
        [(1, A, "sleep_day,heartrate_seconds", None, False), (1, B, "heartrate_seconds", "hourly_steps", False),
         (2, A, None, None, True)],
        "user_id BIGINT, date DATE, missing_inputs STRING, quarantined_inputs STRING, is_complete BOOLEAN")
    assert completeness_summary(rows) == [
        "gold completeness: 1 of 3 user-days have every input (gold.data_completeness; the dashboard's Data "
        "completeness page lists the rest)",
        "  inputs missing (user-days): heartrate_seconds 2, sleep_day 1",
        "  inputs with quarantined rows (user-days): hourly_steps 1"]
    assert completeness_summary(rows.where("is_complete")) == [
        "gold completeness: 1 of 1 user-days have every input (gold.data_completeness; the dashboard's Data "
        "completeness page lists the rest)"]
    assert completeness_summary(rows.limit(0)) == []


def test_quarantined_rows_are_counted_on_their_readable_day_but_not_stale_redeliveries(spark, tmp_path):
    """gold.job._quarantined on a tiny quarantine.hourly_steps: typed like silver (the file's own date format),
    limited to the scope's keys; an unreadable id and a stale re-delivery are not counted."""
    from fitlake import delta_io
    from fitlake.config import Settings
    from fitlake.gold.job import GoldRun, Scope, _quarantined

    settings = Settings(root=tmp_path / "lake")
    raw = spark.createDataFrame(
        [("1503960366", "4/12/2016 1:00:00 AM", "-5", "f1", 1, "step_total_in_range"),
         ("1503960366", "4/12/2016 2:00:00 AM", "99999", "f1", 2, "step_total_in_range"),
         ("1503960366", "4/12/2016 3:00:00 AM", "10", "f0", 3, "stale_redelivery"),
         ("1.50396E+09", "4/12/2016 4:00:00 AM", "10", "f1", 4, "user_id_scientific_notation_digits_lost"),
         ("1503960366", "4/13/2016 1:00:00 AM", "-5", "f1", 5, "step_total_in_range"),  # outside the scope
         ("2022484408", "4/12/2016 1:00:00 AM", "-5", "f1", 6, "step_total_in_range")],
        "Id STRING, ActivityHour STRING, StepTotal STRING, _source_file STRING, _line INT, _rule STRING",
    ).withColumn("_date_format", F.lit("M/d/yyyy h:mm:ss a"))
    delta_io.write(raw, settings.table("quarantine", "hourly_steps"), mode="overwrite")
    keys = spark.createDataFrame([(1503960366, A), (2022484408, A)], DAYS)
    got = _quarantined(GoldRun(spark, settings), Scope(keys, A, A)).orderBy("user_id")
    assert [tuple(r) for r in got.select("user_id", "date", "input", "rows").collect()] == [
        (1503960366, A, "hourly_steps", 2), (2022484408, A, "hourly_steps", 1)]


def test_a_complete_scope_reads_inputs_whole_but_still_limits_quarantine_to_its_keys(spark, tmp_path):
    """A first load (every input read from its first version: ``Scope.complete``) builds gold.data_completeness from
    whole tables, with the same rows as the keyed read of the same keys; quarantined rows of a day no silver input
    has (not a key) are still left out, as in the keyed read."""
    from fitlake import delta_io
    from fitlake.config import Settings
    from fitlake.gold.job import GoldRun, Scope, _build_data_completeness

    settings = Settings(root=tmp_path / "lake")
    u = 1503960366
    delta_io.write(spark.createDataFrame([(u, A), (u, B)], "user_id BIGINT, activity_date DATE"),
                   settings.table("silver", "daily_activity"), mode="overwrite")
    delta_io.write(spark.createDataFrame([(u, dt.datetime(2016, 4, 12))], "user_id BIGINT, sleep_date TIMESTAMP"),
                   settings.table("silver", "sleep_day"), mode="overwrite")
    delta_io.write(spark.createDataFrame([(u, A, None), (u, B, "hourly_steps")], HOURLY),
                   settings.table("gold", "fact_hourly_activity"), mode="overwrite")
    delta_io.write(spark.createDataFrame([(u, A)], DAYS), settings.table("gold", "fact_heart_rate"), mode="overwrite")
    raw = spark.createDataFrame(
        [(str(u), "4/12/2016 1:00:00 AM", "-5", "f1", 1, "step_total_in_range"),
         (str(u), "4/14/2016 1:00:00 AM", "-5", "f1", 2, "step_total_in_range")],  # a day with no silver key
        "Id STRING, ActivityHour STRING, StepTotal STRING, _source_file STRING, _line INT, _rule STRING",
    ).withColumn("_date_format", F.lit("M/d/yyyy h:mm:ss a"))
    delta_io.write(raw, settings.table("quarantine", "hourly_steps"), mode="overwrite")
    keys = spark.createDataFrame([(u, A), (u, B)], DAYS)
    run = GoldRun(spark, settings)
    whole = _build_data_completeness(run, Scope(keys, A, B, complete=True))
    keyed = _build_data_completeness(run, Scope(keys, A, B))
    assert_df_equality(whole, keyed, ignore_row_order=True, ignore_nullable=True)
    assert sorted(r["date"] for r in whole.collect()) == [A, B]
    assert whole.where(F.col("date") == A).first()["quarantined_inputs"] == "hourly_steps"
