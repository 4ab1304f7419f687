"""The stream's two small MERGEs (30 s windows, daily totals) give the same rows by either writer: delta-rs for a
local table, Spark's MERGE for a catalog table (Databricks); a replayed batch adds nothing with either."""

from __future__ import annotations

import datetime as dt

import pytest

from fitlake import delta_io
from fitlake.streaming import sinks
from fitlake.streaming.schema import DAILY_STEPS_SCHEMA, EVENT_WINDOWS_SCHEMA

T = dt.datetime
DAY = dt.date(2024, 1, 1)
APP = "test-stream-sinks"

# (user, activity, window start, steps, calories, avg hr, max hr, events, hr readings, hr sum)
BATCH_1 = [(1, "walking", T(2024, 1, 1, 8, 0, 0), 100, 1.0, 90.0, 95, 2, 2, 180),
           (1, None, T(2024, 1, 1, 8, 0, 0), 5, 0.1, None, None, 1, 0, 0),  # no activity type: a key of its own
           (2, "running", T(2024, 1, 1, 8, 0, 30), 300, 3.0, 150.0, 150, 1, 1, 150)]
BATCH_2 = [(1, "walking", T(2024, 1, 1, 8, 0, 0), 50, 0.5, 120.0, 120, 1, 1, 120),  # late, same window: added
           (1, None, T(2024, 1, 1, 8, 0, 0), 1, 0.0, None, None, 1, 0, 0),  # null-safe key: added, not inserted
           (2, "running", T(2024, 1, 1, 8, 1, 0), 10, 0.1, None, None, 1, 0, 0)]
DAILY_1 = [{"user_id": 1, "date": DAY, "steps": 105, "event_count": 3},
           {"user_id": 2, "date": DAY, "steps": 300, "event_count": 1}]
DAILY_2 = [{"user_id": 1, "date": DAY, "steps": 51, "event_count": 2},
           {"user_id": 2, "date": DAY, "steps": 10, "event_count": 1},
           {"user_id": 3, "date": DAY, "steps": 7, "event_count": 1}]

EXPECTED_WINDOWS = {
    (1, "walking", T(2024, 1, 1, 8, 0, 0), 150, 1.5, 100.0, 120, 3, 3, 300),
    (1, None, T(2024, 1, 1, 8, 0, 0), 6, 0.1, None, None, 2, 0, 0),
    (2, "running", T(2024, 1, 1, 8, 0, 30), 300, 3.0, 150.0, 150, 1, 1, 150),
    (2, "running", T(2024, 1, 1, 8, 1, 0), 10, 0.1, None, None, 1, 0, 0),
}
EXPECTED_DAILY = {(1, DAY, 156, 5), (2, DAY, 310, 2), (3, DAY, 7, 1)}


def _window_rows(spark, batch):
    return spark.createDataFrame(
        [(u, a, s, s + dt.timedelta(seconds=30), *rest) for u, a, s, *rest in batch], EVENT_WINDOWS_SCHEMA)


def _merge(spark, tables, batch_id: int, windows, daily) -> None:
    """As ``StreamBatch`` calls them: inside the batch's idempotent-write guard."""
    with sinks.small_merge(spark), delta_io.txn_guard(spark, APP, batch_id):
        sinks.merge_event_windows(spark, tables["windows"], _window_rows(spark, windows),
                                  "2024-01-01 08:00:00.000000", "2024-01-01 08:01:10.000000", APP, batch_id)
        sinks.merge_event_daily_steps(spark, tables["daily"], daily, [DAY], APP, batch_id)


def _rows(spark, ref) -> set[tuple]:
    rows = delta_io.read(spark, ref).collect()
    return {tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows}


@pytest.mark.parametrize("writer", ["delta-rs", "spark"])
def test_window_and_daily_merges_add_increments_and_a_replay_adds_nothing(spark, settings, monkeypatch, writer):
    if writer == "spark":  # what a catalog table (Databricks) gets
        monkeypatch.setattr(sinks, "_rs_writable", lambda ref: False)
    tables = {"windows": settings.table("gold", "event_windows"), "daily": settings.table("gold", "event_daily_steps")}
    delta_io.ensure_table(spark, tables["windows"], EVENT_WINDOWS_SCHEMA)
    delta_io.ensure_table(spark, tables["daily"], DAILY_STEPS_SCHEMA)
    assert sinks._rs_writable(tables["windows"]) is (writer == "delta-rs")

    _merge(spark, tables, 0, BATCH_1, DAILY_1)
    _merge(spark, tables, 1, BATCH_2, DAILY_2)
    windows = {tuple(r[c.name] for c in EVENT_WINDOWS_SCHEMA.fields if c.name != "window_end")
               for r in delta_io.read(spark, tables["windows"]).collect()}
    assert {tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in windows} == EXPECTED_WINDOWS
    assert _rows(spark, tables["daily"]) == EXPECTED_DAILY

    versions = {k: delta_io.delta_table(spark, ref).history(1).first()["version"] for k, ref in tables.items()}
    _merge(spark, tables, 1, BATCH_2, DAILY_2)  # batch 1 replayed after a crash before its checkpoint commit
    assert _rows(spark, tables["daily"]) == EXPECTED_DAILY
    assert {k: delta_io.delta_table(spark, ref).history(1).first()["version"] for k, ref in tables.items()} == versions
