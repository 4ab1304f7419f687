"""The silver lookup of a micro-batch reads only the files whose event-time statistics overlap the batch."""

from __future__ import annotations

import dataclasses
import datetime as dt

from fitlake import delta_io


def test_files_may_hold_lists_the_overlapping_files_only(spark, settings):
    ref = settings.table("silver", "events")  # any path: the schema is the test's own
    t = dt.datetime
    for lo, hi, e in ((t(2024, 1, 1, 8, 0, 0), t(2024, 1, 1, 8, 0, 20), "a"),
                      (t(2024, 1, 1, 8, 0, 30), t(2024, 1, 1, 8, 0, 50), "b")):
        rows = [(f"{e}1", lo), (f"{e}2", hi)]
        delta_io.write(spark.createDataFrame(rows, "event_id STRING, event_time TIMESTAMP").coalesce(1), ref)
    files = delta_io.files_may_hold(ref, "event_time", t(2024, 1, 1, 8, 0, 10), t(2024, 1, 1, 8, 0, 25))
    assert len(files) == 1
    assert sorted(r[0] for r in spark.read.parquet(*files).collect()) == ["a1", "a2"]
    assert len(delta_io.files_may_hold(ref, "event_time", t(2024, 1, 1, 8, 0, 20), t(2024, 1, 1, 8, 0, 30))) == 2
    assert delta_io.files_may_hold(ref, "event_time", t(2024, 1, 1, 8, 0, 51), t(2024, 1, 1, 9)) == []
    # a catalog table (no path): delta-rs cannot tell
    catalog = dataclasses.replace(ref, path=None)
    assert delta_io.files_may_hold(catalog, "event_time", t(2024, 1, 1), t(2024, 1, 2)) is None


def test_silver_keeps_statistics_on_the_lookup_columns_only(spark, settings):
    """silver.events' files carry min/max/null-count statistics on event_time and user_id only (what its reads skip
    files by), also when the table was made by an older job without the property; the lookup still finds them."""
    import json
    from pathlib import Path

    from fitlake.streaming import sinks
    from fitlake.streaming.schema import SILVER_EVENTS_SCHEMA

    silver = settings.table("silver", "events")
    delta_io.ensure_table(spark, silver, SILVER_EVENTS_SCHEMA, partition_by=["event_date"])  # an older job's table
    sinks.ensure_stream_tables(spark, settings, "kafka", None)
    properties = delta_io.delta_table(spark, silver).detail().first()["properties"]
    assert properties["delta.dataSkippingStatsColumns"] == "event_time,user_id"
    version = delta_io.table_version(spark, silver)
    sinks.ensure_stream_tables(spark, settings, "kafka", None)
    assert delta_io.table_version(spark, silver) == version  # set once: a restart commits nothing

    t = dt.datetime(2024, 1, 1, 8, 0, 10)
    row = ("e1", 7, t, t.date(), 10, 80, 1.5, "walking", "files", "f.json", t, t)
    delta_io.append_once(spark.createDataFrame([row], SILVER_EVENTS_SCHEMA), silver, "test-lookup", 0)
    adds = [json.loads(line)["add"] for f in sorted(Path(silver.path, "_delta_log").glob("*.json"))
            for line in f.read_text().splitlines() if '"add"' in line]
    assert len(adds) == 1
    stats = json.loads(adds[0]["stats"])
    assert stats["numRecords"] == 1
    assert set(stats["minValues"]) == set(stats["maxValues"]) == set(stats["nullCount"]) == {"event_time", "user_id"}
    assert len(delta_io.files_may_hold(silver, "event_time", t, t)) == 1
    assert delta_io.files_may_hold(silver, "event_time", t + dt.timedelta(seconds=1), t + dt.timedelta(hours=1)) == []


def test_the_lookup_finds_silver_events_under_a_folder_with_glob_characters(spark, tmp_path):
    """A lakehouse under a folder named with ``[``, ``]``, ``{``, ``}``: the files delta-rs lists are read as Parquet
    with those characters escaped (``delta_io.read_files``); unescaped, Spark took each path for a pattern and failed
    with PATH_NOT_FOUND (or, with globbing off, read the whole folder)."""
    from fitlake.config import Settings
    from fitlake.streaming import sinks
    from fitlake.streaming.schema import SILVER_EVENTS_SCHEMA

    settings = Settings(root=tmp_path / "lake [a] {b}")
    sinks.ensure_stream_tables(spark, settings, "kafka", None)
    silver = settings.table("silver", "events")
    t = dt.datetime(2024, 1, 1, 8, 0, 10)
    row = ("e1", 7, t, t.date(), 10, 80, 1.5, "walking", "files", "f.json", t, t)
    delta_io.append_once(spark.createDataFrame([row], SILVER_EVENTS_SCHEMA), silver, "test-lookup", 0)
    assert len(delta_io.files_may_hold(silver, "event_time", t, t)) == 1  # the delta-rs path, not the Delta read
    seen = sinks._seen_event_ids(spark, silver, [t.date()], f"{t:%Y-%m-%d %H:%M:%S.%f}", f"{t:%Y-%m-%d %H:%M:%S.%f}")
    assert [r.event_id for r in seen.collect()] == ["e1"]


def test_an_older_event_windows_table_gets_the_columns_added_since_once(spark, settings):
    """gold.event_windows made by a job from before the heart-rate sums: the stream's start adds the missing columns
    (null in the old rows, old rows kept), and a second start commits nothing."""
    from pyspark.sql.types import StructType

    from fitlake.streaming.schema import EVENT_WINDOWS_SCHEMA
    from fitlake.streaming.sinks import _add_missing_columns

    ref = settings.table("gold", "event_windows")
    old = StructType([f for f in EVENT_WINDOWS_SCHEMA.fields if not f.name.startswith("heart_rate_")])
    delta_io.write(spark.createDataFrame([(1, "walk", None, None, 10, 1.0, None, None, 1)], old), ref)
    _add_missing_columns(spark, ref, EVENT_WINDOWS_SCHEMA)
    table = delta_io.read(spark, ref)
    assert table.columns == [f.name for f in EVENT_WINDOWS_SCHEMA.fields]
    assert [(r["steps"], r["heart_rate_sum"]) for r in table.collect()] == [(10, None)]
    version = delta_io.delta_table(spark, ref).history(1).first()["version"]
    _add_missing_columns(spark, ref, EVENT_WINDOWS_SCHEMA)
    assert delta_io.delta_table(spark, ref).history(1).first()["version"] == version
