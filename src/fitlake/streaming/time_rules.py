"""When an event may have happened: one rule for the stream and the batch tables (issue #17, "clocks never trusted").

An event time before ``EARLIEST_EVENT_TIME`` (years 0001 or 1000: a device clock reset, a bad default) or more than
``MAX_AHEAD`` after the processing time (year 9999: a window ending in year 10000, a watermark that no later event
can pass) is quarantined, never typed into silver and never seen by the watermark. Batch code imports the same
bounds: ``event_time_rules_sql("ts_col", "current_timestamp()")`` gives the two (rule name, SQL that must be TRUE)
pairs in the form of ``fitlake.silver.expectations``; the stream uses ``event_time_violation`` with the batch's
pinned processing time, so a replayed batch classifies every event exactly as the first attempt did.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

EARLIEST_EVENT_TIME = "2000-01-01 00:00:00"  # UTC; the same floor as silver's EARLIEST_DATE
MAX_AHEAD = dt.timedelta(minutes=10)  # device clocks drift; ten minutes ahead of our clock is already wrong
RULE_TOO_EARLY = "event_time_before_2000"
RULE_IN_FUTURE = "event_time_in_future"


def event_time_rules_sql(ts_expr: str, now_expr: str = "current_timestamp()") -> list[tuple[str, str]]:
    """(rule name, SQL condition that PASSES) for a timestamp expression; null passes (another rule owns nulls)."""
    minutes = int(MAX_AHEAD.total_seconds() // 60)
    return [
        (RULE_TOO_EARLY, f"{ts_expr} IS NULL OR {ts_expr} >= TIMESTAMP'{EARLIEST_EVENT_TIME}'"),
        (RULE_IN_FUTURE, f"{ts_expr} IS NULL OR {ts_expr} <= {now_expr} + INTERVAL {minutes} MINUTES"),
    ]


def event_time_violation(ts: Column, now: Column) -> list[tuple[str, Column]]:
    """(rule name, condition that FAILS the rule) for a typed timestamp column, checked against ``now``."""
    return [
        (RULE_TOO_EARLY, F.coalesce(ts < F.lit(EARLIEST_EVENT_TIME).cast("timestamp"), F.lit(False))),
        (RULE_IN_FUTURE, F.coalesce(ts > now + F.make_dt_interval(F.lit(0), F.lit(0), F.lit(
            int(MAX_AHEAD.total_seconds() // 60))), F.lit(False))),
    ]
