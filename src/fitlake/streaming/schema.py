"""Column contracts of the live-event tables, kept beside the transforms that produce them."""

from __future__ import annotations

from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# The event fields as they arrive (JSON keys), in contract order.
EVENT_FIELDS = ("event_id", "user_id", "event_time", "steps", "heart_rate", "calories", "activity_type")
ACTIVITY_TYPES = ("walking", "running", "cycling", "swimming", "yoga", "gym_workout", "hiking")
DEFAULT_TOPIC = "fitbit_wellness_stream"
WINDOW_DURATION = "30 seconds"
WATERMARK_DELAY = "1 minute"

# One STRING per field: what a JSON event looks like before typing (bronze.events itself is shaped by fitlake.bronze).
RAW_EVENT_SCHEMA = StructType([StructField(f, StringType()) for f in EVENT_FIELDS])

BRONZE_KAFKA_SCHEMA = StructType([
    StructField("key", StringType()),
    StructField("value", StringType()),
    StructField("topic", StringType()),
    StructField("partition", IntegerType()),
    StructField("offset", LongType()),
    StructField("timestamp", TimestampType()),
    StructField("_ingested_at", TimestampType()),
    StructField("_batch_id", LongType()),
])

SILVER_EVENTS_SCHEMA = StructType([
    StructField("event_id", StringType(), False),
    StructField("user_id", LongType(), False),
    StructField("event_time", TimestampType(), False),
    StructField("event_date", DateType()),  # partition column: UTC date of event_time
    StructField("steps", IntegerType()),
    StructField("heart_rate", IntegerType()),
    StructField("calories", DoubleType()),
    StructField("activity_type", StringType()),
    StructField("_source", StringType()),
    StructField("_source_file", StringType()),
    StructField("_ingested_at", TimestampType()),
    StructField("_updated_at", TimestampType()),
])

# File statistics (min, max, null count) only on the columns silver.events' files are skipped by: event_time (a
# micro-batch's silver lookup, ``sinks.new_events``) and user_id (``fitlake forget``'s DELETE); the partition column
# event_date needs none. On every column, Delta's statistics of the micro-batch's append cost ~0.6 s of task CPU per
# 80 k events (interpreted: each row goes through a projection of every column's min, max and null count; silver
# append 1.0-1.2 -> 0.4-0.5 s, benchmarks/results/stream-profile-2026-12-01-s21.md).
SILVER_EVENTS_PROPERTIES = {"delta.dataSkippingStatsColumns": "event_time,user_id"}

EVENT_WINDOWS_SCHEMA = StructType([
    StructField("user_id", LongType()),
    StructField("activity_type", StringType()),
    StructField("window_start", TimestampType()),
    StructField("window_end", TimestampType()),
    StructField("steps", LongType()),
    StructField("calories", DoubleType()),
    StructField("avg_heart_rate", DoubleType()),
    StructField("max_heart_rate", IntegerType()),
    StructField("event_count", LongType()),
    # what the average is made of, so a later batch can add to a window without rereading its events
    StructField("heart_rate_readings", LongType()),
    StructField("heart_rate_sum", LongType()),
])

# The running step total per user and UTC day that goal alerts are decided from (no recount of the day).
DAILY_STEPS_SCHEMA = StructType([
    StructField("user_id", LongType()),
    StructField("date", DateType()),
    StructField("steps", LongType()),
    StructField("event_count", LongType()),
])

GOAL_ALERTS_SCHEMA = StructType([
    StructField("user_id", LongType()),
    StructField("date", DateType()),
    StructField("goal", IntegerType()),
    StructField("steps_at_alert", LongType()),
    StructField("crossed_at", TimestampType()),
    StructField("alerted_at", TimestampType()),
])


def quarantine_schema(bronze_schema: StructType) -> StructType:
    """Quarantine = the raw bronze columns + the failed expectation + when."""
    return StructType(
        list(bronze_schema.fields)
        + [StructField("_rule", StringType()), StructField("_quarantined_at", TimestampType())]
    )


__all__ = [
    "ACTIVITY_TYPES", "BRONZE_KAFKA_SCHEMA", "DAILY_STEPS_SCHEMA", "DEFAULT_TOPIC", "EVENT_FIELDS",
    "EVENT_WINDOWS_SCHEMA", "GOAL_ALERTS_SCHEMA", "RAW_EVENT_SCHEMA", "SILVER_EVENTS_PROPERTIES", "SILVER_EVENTS_SCHEMA",
    "WATERMARK_DELAY", "WINDOW_DURATION", "quarantine_schema",
]
