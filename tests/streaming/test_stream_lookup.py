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
