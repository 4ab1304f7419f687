"""The live-event transforms on small static DataFrames (chispa), including null and zero cases."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from fitlake.streaming.cli import parse_duration, parse_until
from fitlake.streaming.job import percentile
from fitlake.streaming.transforms import (
    daily_step_totals,
    daily_step_totals_with_late,
    first_delivery_per_event,
    first_goal_crossings,
    parse_event_json,
    split_valid_events,
    to_silver_events,
    flag_late,
    window_increments,
    with_event_rule,
)

RAW = "event_id string, user_id string, event_time string, steps string, heart_rate string, calories string, " \
      "activity_type string, _corrupt_record string"
T0 = "2023-04-01T08:00:05.250Z"


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2023-04-01 {text}")


def test_parse_event_json_keeps_text_rescues_unknown_keys_and_never_loses_a_bad_line(spark):
    df = spark.createDataFrame(
        [
            ('{"event_id":"e1","user_id":1503960366,"event_time":"%s","steps":0,"heart_rate":null,"calories":1.5,'
             '"activity_type":"walking","battery":{"pct":80}}' % T0,),
            ("not json",),
            ("[1,2]",),
            ("{}",),
            (None,),
        ],
        "value string",
    )
    expected = spark.createDataFrame(
        [
            (df.collect()[0]["value"], "e1", "1503960366", T0, "0", None, "1.5", "walking", '{"battery":"{\\"pct\\":80}"}', None),
            ("not json", None, None, None, None, None, None, None, None, "not json"),
            ("[1,2]", None, None, None, None, None, None, None, None, "[1,2]"),
            ("{}", None, None, None, None, None, None, None, None, None),
            (None, None, None, None, None, None, None, None, None, None),
        ],
        "value string, event_id string, user_id string, event_time string, steps string, heart_rate string, "
        "calories string, activity_type string, _rescued_data string, _corrupt_record string",
    )
    assert_df_equality(df.transform(parse_event_json), expected, ignore_nullable=True)


def test_with_event_rule_names_the_first_failed_expectation(spark):
    ok = ("e", "1503960366", T0, "10", "90", "1.0", "walking", None)
    rows = [
        (ok, None),
        (("e", "1503960366", T0, "0", "0", "0", "walking", None), None),  # zeros are valid readings
        (("e", "1503960366", T0, "0", None, None, None, None), None),  # optional fields may be null
        (("e", "1503960366", "2023-04-01T08:00:05+02:00", "1", None, None, "yoga", None), None),
        ((None, None, None, None, None, None, None, "not json"), "malformed_json"),
        ((" ", "1503960366", T0, "10", "90", "1.0", "walking", None), "event_id_missing"),
        (("e", "abc", T0, "10", "90", "1.0", "walking", None), "user_id_not_bigint"),
        (("e", "0", T0, "10", "90", "1.0", "walking", None), "user_id_not_bigint"),
        (("e", "1503960366", "2023-04-01", "10", "90", "1.0", "walking", None), "event_time_not_iso8601"),
        (("e", "1503960366", None, "10", "90", "1.0", "walking", None), "event_time_not_iso8601"),
        (("e", "1503960366", T0, None, "90", "1.0", "walking", None), "steps_not_non_negative_int"),
        (("e", "1503960366", T0, "-1", "90", "1.0", "walking", None), "steps_not_non_negative_int"),
        (("e", "1503960366", T0, "1.5", "90", "1.0", "walking", None), "steps_not_non_negative_int"),
        (("e", "1503960366", T0, "1", "251", "1.0", "walking", None), "heart_rate_out_of_range"),
        (("e", "1503960366", T0, "1", "x", "1.0", "walking", None), "heart_rate_out_of_range"),
        (("e", "1503960366", T0, "1", "90", "-0.5", "walking", None), "calories_not_non_negative"),
        # issue #17: non-finite numbers are not readings; event times outside [2000-01-01, now + 10 min]
        (("e", "1503960366", T0, "1", "90", "NaN", "walking", None), "calories_not_finite"),
        (("e", "1503960366", T0, "1", "90", "Infinity", "walking", None), "calories_not_finite"),
        (("e", "1503960366", T0, "1", "90", "-Infinity", "walking", None), "calories_not_finite"),
        (("e", "1503960366", T0, "1", "90", "1e999", "walking", None), "calories_not_finite"),
        (("e", "1503960366", "0001-01-01T00:00:00Z", "1", "90", "1", "walking", None), "event_time_before_2000"),
        (("e", "1503960366", "1000-06-01T00:00:00Z", "1", "90", "1", "walking", None), "event_time_before_2000"),
        (("e", "1503960366", "1999-12-31T23:59:59.999Z", "1", "90", "1", "walking", None), "event_time_before_2000"),
        (("e", "1503960366", "2000-01-01T00:00:00Z", "1", "90", "1", "walking", None), None),  # the floor itself
        (("e", "1503960366", "9999-12-31T23:59:59Z", "1", "90", "1", "walking", None), "event_time_in_future"),
        (("e", "1503960366", "2023-04-01T08:20:05.250Z", "1", "90", "1", "walking", None), "event_time_in_future"),
        (("e", "1503960366", "2023-04-01T08:10:05.250Z", "1", "90", "1", "walking", None), None),  # now + 10 min
        (("e", "1503960366", T0, "1", "90", "1", "skydiving", None), "activity_type_unknown"),
        (("e", "abc", "bad", "-1", "999", "-1", "x", None), "user_id_not_bigint"),  # first failure wins
    ]
    df = spark.createDataFrame([r for r, _ in rows], RAW)
    expected = spark.createDataFrame([(*r, rule) for r, rule in rows], RAW + ", _rule string")
    now = F.lit("2023-04-01 08:00:05.25").cast("timestamp")  # the batch's pinned processing time
    assert_df_equality(with_event_rule(df, now), expected, ignore_nullable=True)
    valid, invalid = split_valid_events(df, now)
    assert (valid.count(), invalid.count()) == (6, len(rows) - 6)
    assert "_rule" not in valid.columns


def test_to_silver_events_types_fields_and_nulls_a_zero_heart_rate(spark):
    raw = spark.createDataFrame(
        [
            ("e1", "1503960366", T0, "12", "0", "1.5", "walking", "f1", 3, ts("09:00:00")),
            (" e2 ", "1503960366", "2023-04-01T23:59:59Z", "0", "101", None, None, "f1", 4, ts("09:00:00")),
        ],
        "event_id string, user_id string, event_time string, steps string, heart_rate string, calories string, "
        "activity_type string, _source_file string, _line int, _ingested_at timestamp",
    )
    actual = raw.transform(to_silver_events("files")).drop("_updated_at")
    expected = spark.createDataFrame(
        [
            ("e1", 1503960366, dt.datetime(2023, 4, 1, 8, 0, 5, 250000), dt.date(2023, 4, 1), 12, None, 1.5,
             "walking", "files", "f1", 3, ts("09:00:00")),
            ("e2", 1503960366, ts("23:59:59"), dt.date(2023, 4, 1), 0, 101, None, None, "files", "f1", 4,
             ts("09:00:00")),
        ],
        "event_id string, user_id bigint, event_time timestamp, event_date date, steps int, heart_rate int, "
        "calories double, activity_type string, _source string, _source_file string, _line int, "
        "_ingested_at timestamp",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_first_delivery_per_event_keeps_the_earliest_file_and_line(spark):
    df = spark.createDataFrame(
        [("e1", "b.json", 1, 10), ("e1", "a.json", 7, 11), ("e1", "a.json", 2, 12), ("e2", None, None, 13),
         ("e2", "c.json", 1, 14)],
        "event_id string, _source_file string, _line int, steps int",
    )
    expected = spark.createDataFrame([("e1", "a.json", 2, 12), ("e2", "c.json", 1, 14)], df.schema)
    assert_df_equality(df.transform(first_delivery_per_event), expected, ignore_row_order=True)


def events_df(spark, rows):
    return spark.createDataFrame(
        rows, "event_id string, user_id bigint, event_time timestamp, event_date date, steps int, heart_rate int, "
              "calories double, activity_type string",
    )


D = dt.date(2023, 4, 1)


def test_window_increments_30s_tumbling_with_null_and_zero_values(spark):
    df = events_df(spark, [
        ("a", 1, ts("08:00:00"), D, 10, 90, 1.0, "walking"),  # window start is inclusive
        ("b", 1, ts("08:00:29.999"), D, 0, None, None, "walking"),  # zero steps, no heart rate, no calories
        ("c", 1, ts("08:00:30"), D, 5, 100, 0.0, "walking"),  # window end is exclusive
        ("d", 1, ts("08:00:10"), D, 7, 120, 2.0, "running"),
        ("f", 1, ts("08:00:12"), D, 1, 60, 1.0, "running"),
        ("e", 2, ts("08:00:10"), D, None, None, None, None),  # all optional values null
    ])
    expected = spark.createDataFrame(
        [
            (1, "walking", ts("08:00:00"), ts("08:00:30"), 10, 1.0, 90.0, 90, 2, 1, 90),
            (1, "walking", ts("08:00:30"), ts("08:01:00"), 5, 0.0, 100.0, 100, 1, 1, 100),
            (1, "running", ts("08:00:00"), ts("08:00:30"), 8, 3.0, 90.0, 120, 2, 2, 180),
            (2, None, ts("08:00:00"), ts("08:00:30"), None, None, None, None, 1, 0, None),
        ],
        "user_id bigint, activity_type string, window_start timestamp, window_end timestamp, steps bigint, "
        "calories double, avg_heart_rate double, max_heart_rate int, event_count bigint, heart_rate_readings bigint, "
        "heart_rate_sum bigint",
    )
    assert_df_equality(df.transform(window_increments), expected, ignore_row_order=True, ignore_nullable=True)


def test_flag_late_marks_events_whose_window_ended_at_or_before_the_watermark(spark):
    df = events_df(spark, [
        ("a", 1, ts("08:00:29.999"), D, 1, None, None, "walking"),  # window ends 08:00:30 == watermark: late
        ("b", 1, ts("08:00:30"), D, 1, None, None, "walking"),  # window ends 08:01:00 > watermark: on time
    ])
    flagged = {r["event_id"]: r["_late"] for r in df.transform(flag_late("2023-04-01 08:00:30.000000")).collect()}
    assert flagged == {"a": True, "b": False}
    assert {r["_late"] for r in df.transform(flag_late(None)).collect()} == {False}  # no watermark before events


def test_first_goal_crossings_in_event_time_order_once_per_user_day(spark):
    df = events_df(spark, [
        # user 1: arrives out of order; in event-time order the total reaches 100 at 08:10 (b), not at c
        ("c", 1, ts("09:00:00"), D, 80, None, None, "walking"),
        ("a", 1, ts("08:00:00"), D, 60, None, None, "walking"),
        ("b", 1, ts("08:10:00"), D, 40, None, None, "walking"),
        # user 2: exactly the goal with a null and a zero on the way; tie on time broken by event_id
        ("x2", 2, ts("08:00:00"), D, 50, None, None, "walking"),
        ("x1", 2, ts("08:00:00"), D, None, None, None, "walking"),
        ("x3", 2, ts("08:05:00"), D, 0, None, None, "walking"),
        ("x4", 2, ts("08:06:00"), D, 50, None, None, "walking"),
        # user 3: never reaches it; user 1 next day: separate day, separate alert
        ("y", 3, ts("08:00:00"), D, 99, None, None, "walking"),
        ("n", 1, ts("00:00:01"), dt.date(2023, 4, 2), 100, None, None, "walking"),
    ])
    expected = spark.createDataFrame(
        [(1, D, 100, 100, ts("08:10:00")), (2, D, 100, 100, ts("08:06:00")),
         (1, dt.date(2023, 4, 2), 100, 100, ts("00:00:01"))],
        "user_id bigint, date date, goal int, steps_at_alert bigint, crossed_at timestamp",
    )
    # the n event's date differs from its timestamp on purpose: grouping is by event_date
    assert_df_equality(df.transform(first_goal_crossings(100)), expected, ignore_row_order=True, ignore_nullable=True)
    assert df.transform(first_goal_crossings(10**9)).count() == 0


def test_goal_of_zero_alerts_at_a_users_first_event(spark):
    df = events_df(spark, [("b", 1, ts("08:00:01"), D, 0, None, None, "walking"),
                           ("a", 1, ts("08:00:00"), D, 0, None, None, "walking")])
    assert [tuple(r) for r in df.transform(first_goal_crossings(0)).collect()] == [(1, D, 0, 0, ts("08:00:00"))]


def test_percentile_is_nearest_rank():
    assert percentile([], 95) is None
    assert percentile([7], 50) == 7.0
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)
    assert percentile([30, 10, 20], 50) == 20.0


@pytest.mark.parametrize("text,seconds", [("5s", 5), ("500ms", 0.5), ("2m", 120), ("5 seconds", 5), ("3", 3)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_until_events_or_time():
    assert parse_until(["5000"]) == ("events", 5000)
    assert parse_until(["5000", "events"]) == ("events", 5000)
    assert parse_until(["30s"]) == ("seconds", 30)
    assert parse_until(["2", "minutes"]) == ("seconds", 120)


def test_format_summary_leaves_out_latency_and_watermark_a_run_did_not_have_and_says_where_alerts_went():
    from fitlake.streaming.cli import format_summary

    idle = {"batches": 1, "batches_with_data": 0, "batch_ms_p50": None, "batch_ms_p95": None, "watermark": None}
    busy = {"batches": 3, "batches_with_data": 2, "batch_ms_p50": 812.0, "batch_ms_p95": 1204.5,
            "watermark": "2026-11-23T12:00:00.000Z"}
    summary = {"source": "files", "mode": "available-now", "events_in": 0, "elapsed_s": 8.7, "events_per_s": 0.0,
               "stopped_by": "done", "rows_added": {"bronze.events": 0}, "quarantined_by_rule": {},
               "rows_dropped_by_watermark": 0, "watermark": None, "step_ms_p95": {},
               "alerts_published": {"to": "gold.goal_alerts only (no --alerts-topic)", "published": 0},
               "queries": {"ingest": idle}}
    text = format_summary(summary)
    assert "  ingest: 1 batches (0 with data)\n" in text + "\n"
    assert "None" not in text and text.split("\n")[3].endswith("(1-minute watermark): 0")
    assert "goal alerts: +0 in gold.goal_alerts; published 0 -> gold.goal_alerts only (no --alerts-topic)" in text
    summary.update(queries={"ingest": busy}, watermark="2026-11-23T12:00:00.000Z", step_ms_p95={"silver": 420.0},
                   rows_added={"gold.goal_alerts": 2},
                   alerts_published={"to": "Kafka topic a at 127.0.0.1:9092", "published": 2})
    text = format_summary(summary)
    assert "ingest: 3 batches (2 with data), latency p50 812 ms, p95 1204 ms" in text
    assert "(1-minute watermark): 0, watermark 2026-11-23T12:00:00.000Z" in text
    assert "goal alerts: +2 in gold.goal_alerts; published 2 -> Kafka topic a at 127.0.0.1:9092" in text
    assert "per batch p95 ms: silver 420" in text
    summary.update(spark_jobs_per_batch={0: 31, 1: 24})
    assert format_summary(summary).endswith("\n  Spark jobs per batch: 24-31")


def test_daily_step_totals_count_null_steps_as_zero(spark):
    df = events_df(spark, [
        ("a", 1, ts("08:00:00"), D, 10, None, None, "walking"),
        ("b", 1, ts("09:00:00"), D, None, None, None, "walking"),
        ("c", 2, ts("09:00:00"), D, 0, None, None, "walking"),
        ("d", 2, ts("09:00:00"), dt.date(2023, 4, 2), 3, None, None, "walking"),
    ])
    expected = spark.createDataFrame(
        [(1, D, 10, 2), (2, D, 0, 1), (2, dt.date(2023, 4, 2), 3, 1)],
        "user_id bigint, date date, steps bigint, event_count bigint",
    )
    assert_df_equality(df.transform(daily_step_totals), expected, ignore_row_order=True, ignore_nullable=True)
    late = df.withColumn("_late", F.col("event_id").isin("b", "d"))  # late events still count in the day's total
    assert_df_equality(late.transform(daily_step_totals_with_late), expected.withColumn(
        "late", F.when(F.col("user_id") == 1, 1).when(F.col("date") == dt.date(2023, 4, 2), 1).otherwise(0)
        .cast("bigint")), ignore_row_order=True, ignore_nullable=True)
