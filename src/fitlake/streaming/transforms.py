"""Pure ``DataFrame -> DataFrame`` transforms of live events: parse, validate, type, window, goal crossings.

They work the same on a static DataFrame (tests, foreachBatch) and a streaming one where Spark allows it; the
batch-only ones (window functions) say so.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from fitlake.streaming.time_rules import event_time_violation
from fitlake.streaming.schema import (
    ACTIVITY_TYPES,
    EVENT_FIELDS,
    RAW_EVENT_SCHEMA,
    WINDOW_DURATION,
)

# ISO-8601 with a zone: 2023-04-01T08:15:30.250Z or ...+02:00. A bare date would cast too, so we insist on this.
ISO_8601 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
MAX_HEART_RATE = 250


def parse_event_json(df: DataFrame, column: str = "value") -> DataFrame:
    """Raw JSON text -> one STRING per event field, like the bronze file table.

    Numbers keep their text (typing is silver's job), keys we do not know go to ``_rescued_data`` as a JSON
    object, and a line that is not a JSON object keeps its raw text in ``_corrupt_record`` — so a bad message is
    never an all-null row nobody can explain.
    """
    schema = StructType([*RAW_EVENT_SCHEMA.fields, StructField("_corrupt_record", StringType())])
    parsed = F.from_json(F.col(column), schema, {"columnNameOfCorruptRecord": "_corrupt_record"})
    keys = F.json_object_keys(F.col(column))  # null unless the text is a JSON object
    unknown = F.array_except(keys, F.array(*[F.lit(f) for f in EVENT_FIELDS]))
    rescued_values = F.transform(
        unknown, lambda k: F.call_function("get_json_object", F.col(column), F.concat(F.lit("$['"), k, F.lit("']")))
    )
    return df.withColumn("_parsed", parsed).select(
        "*",
        *[F.col("_parsed")[f].alias(f) for f in EVENT_FIELDS],
        F.when(F.size(unknown) > 0, F.to_json(F.map_from_arrays(unknown, rescued_values))).alias("_rescued_data"),
        F.when(keys.isNull() & F.col(column).isNotNull(), F.col(column)).alias("_corrupt_record"),
    ).drop("_parsed")


def _rules(now: Column | None = None) -> list[tuple[str, Column]]:
    """(rule name, condition that FAILS the rule), in the order they are checked; the first failure is reported.
    ``now`` is the processing time the event-time ceiling is measured from (default: the current timestamp)."""
    now = F.current_timestamp() if now is None else now
    steps = F.col("steps").try_cast("int")
    heart_rate = F.col("heart_rate").try_cast("int")
    calories = F.col("calories").try_cast("double")
    return [
        ("malformed_json", F.col("_corrupt_record").isNotNull()),
        ("event_id_missing", F.coalesce(F.trim(F.col("event_id")), F.lit("")) == ""),
        ("user_id_not_bigint", F.coalesce(F.col("user_id").try_cast("bigint") <= 0, F.lit(True))),
        ("event_time_not_iso8601", ~F.coalesce(F.col("event_time").rlike(ISO_8601), F.lit(False))
         | F.col("event_time").try_cast("timestamp").isNull()),
        *event_time_violation(F.col("event_time").try_cast("timestamp"), now),
        ("steps_not_non_negative_int", F.coalesce(steps < 0, F.lit(True))),
        ("heart_rate_out_of_range", F.col("heart_rate").isNotNull()
         & F.coalesce((heart_rate < 0) | (heart_rate > MAX_HEART_RATE), F.lit(True))),
        ("calories_not_finite", F.col("calories").isNotNull()
         & F.coalesce(F.isnan(calories) | (F.abs(calories) == F.lit(float("inf"))), F.lit(False))),
        ("calories_not_non_negative", F.col("calories").isNotNull() & F.coalesce(calories < 0, F.lit(True))),
        ("activity_type_unknown", F.col("activity_type").isNotNull()
         & ~F.col("activity_type").isin(*ACTIVITY_TYPES)),
    ]


def with_event_rule(df: DataFrame, now: Column | None = None) -> DataFrame:
    """Add ``_rule``: the first expectation a raw event fails, null when it passes them all."""
    rule = F.lit(None).cast("string")
    for name, fails in reversed(_rules(now)):
        rule = F.when(fails, F.lit(name)).otherwise(rule)
    return df.withColumn("_rule", rule)


def split_valid_events(df: DataFrame, now: Column | None = None) -> tuple[DataFrame, DataFrame]:
    """(valid events without ``_rule``, invalid events with it) — every input row lands in exactly one."""
    checked = with_event_rule(df, now)
    return checked.where(F.col("_rule").isNull()).drop("_rule"), checked.where(F.col("_rule").isNotNull())


def to_silver_events(source: str) -> Callable[[DataFrame], DataFrame]:
    """Valid raw events -> typed silver columns. A heart rate of 0 is the device's "no reading", so it becomes null
    instead of dragging window averages down."""

    def transform(df: DataFrame) -> DataFrame:
        heart_rate = F.col("heart_rate").try_cast("int")
        event_time = F.col("event_time").try_cast("timestamp")
        return df.select(
            F.trim("event_id").alias("event_id"),
            F.col("user_id").try_cast("bigint").alias("user_id"),
            event_time.alias("event_time"),
            F.to_date(event_time).alias("event_date"),
            F.col("steps").try_cast("int").alias("steps"),
            F.when(heart_rate > 0, heart_rate).alias("heart_rate"),
            F.col("calories").try_cast("double").alias("calories"),
            F.col("activity_type"),
            F.lit(source).alias("_source"),
            F.col("_source_file"),
            F.col("_line"),
            F.col("_ingested_at"),
            F.current_timestamp().alias("_updated_at"),
        )

    return transform


def first_delivery_per_event(df: DataFrame) -> DataFrame:
    """One row per ``event_id``: the earliest delivery (file order, then line). Batch-only (window function)."""
    first = Window.partitionBy("event_id").orderBy(F.col("_source_file").asc_nulls_last(), F.col("_line").asc_nulls_last())
    return df.withColumn("_n", F.row_number().over(first)).where(F.col("_n") == 1).drop("_n")


def flag_late(watermark: str | None, duration: str = WINDOW_DURATION) -> Callable[[DataFrame], DataFrame]:
    """Add ``_late``: the event's tumbling window ends at or before ``watermark`` (a UTC timestamp literal, None
    before any event was seen), i.e. the window is final and the event is dropped from the windows (Spark's rule)."""

    def transform(df: DataFrame) -> DataFrame:
        if watermark is None:
            return df.withColumn("_late", F.lit(False))
        end = F.window("event_time", duration).end
        return df.withColumn("_late", end <= F.lit(watermark).cast("timestamp"))

    return transform


def window_increments(df: DataFrame, duration: str = WINDOW_DURATION) -> DataFrame:
    """Per user x activity x tumbling window of typed events: steps, calories, average and max heart rate (of the
    readings), event count, plus the heart-rate reading count and sum, so two increments of one window add up
    exactly (``merge_windows``)."""
    return (
        df.groupBy("user_id", "activity_type", F.window("event_time", duration).alias("window"))
        .agg(
            F.sum("steps").cast("bigint").alias("steps"),
            F.sum("calories").alias("calories"),
            F.max("heart_rate").alias("max_heart_rate"),
            F.count(F.lit(1)).alias("event_count"),
            F.count("heart_rate").alias("heart_rate_readings"),
            F.sum("heart_rate").cast("bigint").alias("heart_rate_sum"),
        )
        .select(
            "user_id",
            "activity_type",
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
            "steps",
            "calories",
            (F.col("heart_rate_sum") / F.nullif(F.col("heart_rate_readings"), F.lit(0))).alias("avg_heart_rate"),
            "max_heart_rate",
            "event_count",
            "heart_rate_readings",
            "heart_rate_sum",
        )
    )


def daily_step_totals(df: DataFrame) -> DataFrame:
    """Per user x UTC day: total steps (null steps count as 0) and events."""
    return df.groupBy("user_id", F.col("event_date").alias("date")).agg(
        F.sum(F.coalesce(F.col("steps"), F.lit(0))).cast("bigint").alias("steps"),
        F.count(F.lit(1)).alias("event_count"),
    )


def daily_step_totals_with_late(df: DataFrame) -> DataFrame:
    """``daily_step_totals`` of events flagged by ``flag_late``, plus ``late``: how many of them the watermark drops
    from the windows (they still count in the day's total)."""
    return df.groupBy("user_id", F.col("event_date").alias("date")).agg(
        F.sum(F.coalesce(F.col("steps"), F.lit(0))).cast("bigint").alias("steps"),
        F.count(F.lit(1)).alias("event_count"),
        F.count(F.when(F.col("_late"), 1)).alias("late"),
    )


def with_running_daily_steps(df: DataFrame) -> DataFrame:
    """Add ``running_steps``: the user's step total for the day up to and including each event, in event-time order
    (ties broken by event_id so the result does not depend on arrival). Batch-only."""
    upto = (
        Window.partitionBy("user_id", "event_date")
        .orderBy("event_time", "event_id")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    return df.withColumn("running_steps", F.sum(F.coalesce(F.col("steps"), F.lit(0))).over(upto).cast("bigint"))


def first_goal_crossings(goal: int) -> Callable[[DataFrame], DataFrame]:
    """Per user x day whose running total reaches ``goal``: the first event that got it there. Batch-only."""

    def transform(df: DataFrame) -> DataFrame:
        first = Window.partitionBy("user_id", "event_date").orderBy("event_time", "event_id")
        return (
            df.transform(with_running_daily_steps)
            .where(F.col("running_steps") >= F.lit(goal))
            .withColumn("_n", F.row_number().over(first))
            .where(F.col("_n") == 1)
            .select(
                "user_id",
                F.col("event_date").alias("date"),
                F.lit(goal).cast("int").alias("goal"),
                F.col("running_steps").alias("steps_at_alert"),
                F.col("event_time").alias("crossed_at"),
            )
        )

    return transform
