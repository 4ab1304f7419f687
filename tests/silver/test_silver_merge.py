"""The silver MERGE: newer deliveries win, replays and identical rows commit nothing, quarantine is guarded too."""

from __future__ import annotations

import datetime as dt

from fitlake import delta_io
from fitlake.silver import merge as M
from fitlake.silver.job import process_batch
from fitlake.silver.specs import SPECS

T1, T2, T3 = dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 3)
COLS = [c.source for c in SPECS["sleep_day"].columns]
META = "_rescued_data STRING, _corrupt_record STRING, _source_file STRING, _line INT, _ingested_at TIMESTAMP"


def _bronze(spark, rows):
    """bronze.sleep_day-shaped rows: (Id, SleepDay, records, asleep, in_bed, file, line, ingested_at)."""
    data = [(*r[:5], None, None, *r[5:]) for r in rows]
    return spark.createDataFrame(data, ", ".join(f"{c} STRING" for c in COLS) + ", " + META)


def _silver(spark, settings):
    df = delta_io.read(spark, settings.table("silver", "sleep_day"))
    return sorted((r.user_id, r.sleep_date.day, r.total_minutes_asleep, r._source_file) for r in df.collect())


def _version(spark, settings, layer="silver"):
    return M.table_version(spark, settings.table(layer, "sleep_day"))


def test_batches_upsert_by_key_and_replays_are_skipped(spark, settings):
    spec = SPECS["sleep_day"]
    b0 = _bronze(spark, [
        ("1", "4/12/2016 12:00:00 AM", "1", "300", "350", "a.csv", 2, T1),
        ("1", "4/12/2016 12:00:00 AM", "1", "300", "350", "a.csv", 3, T1),  # exact duplicate in the batch
        ("2", "4/12/2016 12:00:00 AM", "1", "400", "450", "a.csv", 4, T1),
        ("3", "2016-04-12", "1", "400", "450", "a.csv", 5, T1),  # wrong date format
        ("4", "4/12/2016 12:00:00 AM", "1", "500", "450", "a.csv", 6, T1),  # asleep > in bed
    ])
    c0 = process_batch(spark, settings, spec, b0, 0, "app")
    assert (c0.rows_in, c0.inserted, c0.duplicates, c0.quarantined) == (
        5, 2, 1, {"sleep_date_parses_exactly": 1, "asleep_not_more_than_in_bed": 1})
    assert c0.reconciles
    v_silver, v_quarantine = _version(spark, settings), _version(spark, settings, "quarantine")

    # the same batch replayed (crash after the writes, before the checkpoint commit): Delta skips both writes
    replay = process_batch(spark, settings, spec, b0, 0, "app")
    assert replay.rows_in == 5
    assert (_version(spark, settings), _version(spark, settings, "quarantine")) == (v_silver, v_quarantine)
    assert delta_io.read(spark, settings.table("quarantine", "sleep_day")).count() == 2

    b1 = _bronze(spark, [
        ("1", "4/12/2016 12:00:00 AM", "1", "310", "350", "b.csv", 2, T2),  # newer: update
        ("2", "4/12/2016 12:00:00 AM", "1", "400", "450", "b.csv", 3, T2),  # newer but identical: no-op
        ("5", "4/13/2016 12:00:00 AM", "1", "200", "250", "b.csv", 4, T2),  # new key
    ])
    c1 = process_batch(spark, settings, spec, b1, 1, "app")
    assert (c1.inserted, c1.updated, c1.unchanged, c1.quarantined_total) == (1, 1, 1, 0)
    assert _silver(spark, settings) == [(1, 12, 310, "b.csv"), (2, 12, 400, "a.csv"), (5, 13, 200, "b.csv")]

    # an older delivery (earlier file, ingested with or before the stored one) never overwrites a newer one: it is
    # superseded (a duplicate); identical input commits nothing at all
    v = _version(spark, settings)
    b2 = _bronze(spark, [("1", "4/12/2016 12:00:00 AM", "1", "290", "350", "a0.csv", 2, T1),
                         ("5", "4/13/2016 12:00:00 AM", "1", "200", "250", "c.csv", 2, T3)])
    c2 = process_batch(spark, settings, spec, b2, 2, "app")
    assert (c2.inserted, c2.updated, c2.unchanged, c2.duplicates, c2.quarantined_total) == (0, 0, 1, 1, 0)
    assert c2.reconciles
    assert _version(spark, settings) == v


def test_stale_redelivery_never_reverts_a_correction_and_is_quarantined(spark, settings):
    """The original (a.csv) and its correction (b.csv) are stored; a later run re-sends a.csv's old value under a
    name that sorts before b.csv: silver keeps the correction and the re-sent row lands in quarantine as
    stale_redelivery (in a later batch, and also when both arrive in one batch after the correction is stored)."""
    spec = SPECS["sleep_day"]
    day = "4/12/2016 12:00:00 AM"
    c0 = process_batch(spark, settings, spec, _bronze(spark, [
        ("1", day, "1", "300", "350", "part-0.csv", 2, T1),
        ("1", day, "1", "310", "350", "part-1-corrections.csv", 2, T1),  # the correction, same run
        ("2", day, "1", "400", "450", "part-0.csv", 3, T1),
    ]), 0, "app")
    assert (c0.inserted, c0.duplicates, c0.quarantined_total) == (2, 1, 0)

    resent = [("1", day, "1", "300", "350", "part-0 (resent).csv", 2, T2),  # stale: sorts before the correction
              ("2", day, "1", "400", "450", "part-0 (resent).csv", 3, T2)]  # identical: unchanged
    c1 = process_batch(spark, settings, spec, _bronze(spark, resent), 1, "app")
    assert (c1.inserted, c1.updated, c1.unchanged, c1.quarantined) == (0, 0, 1, {"stale_redelivery": 1})
    assert c1.reconciles
    assert _silver(spark, settings) == [(1, 12, 310, "part-1-corrections.csv"), (2, 12, 400, "part-0.csv")]
    q = delta_io.read(spark, settings.table("quarantine", "sleep_day")).collect()
    assert [(r._rule, r.Id, r.TotalMinutesAsleep, r._source_file) for r in q] == [
        ("stale_redelivery", "1", "300", "part-0 (resent).csv")]
    v = (_version(spark, settings), _version(spark, settings, "quarantine"))
    process_batch(spark, settings, spec, _bronze(spark, resent), 1, "app")  # a replay writes nothing
    assert (_version(spark, settings), _version(spark, settings, "quarantine")) == v

    # a newer delivery still wins: the same path ingested again (a file rewritten in place), and a later file
    c2 = process_batch(spark, settings, spec, _bronze(spark, [
        ("1", day, "1", "320", "350", "part-1-corrections.csv", 2, T3),
        ("2", day, "1", "410", "450", "part-2.csv", 2, T3)]), 2, "app")
    assert (c2.updated, c2.quarantined_total) == (2, 0)


def test_stale_redelivery_in_one_batch_with_its_newer_version(spark, settings):
    """Bronze ran twice before silver: the correction (ingested first) and the stale re-send (ingested later) meet in
    one batch; the outcome is the same as over two batches."""
    spec = SPECS["sleep_day"]
    day = "4/12/2016 12:00:00 AM"
    c = process_batch(spark, settings, spec, _bronze(spark, [
        ("1", day, "1", "310", "350", "part-1-corrections.csv", 2, T1),
        ("1", day, "1", "300", "350", "part-0 (resent).csv", 2, T2),  # stale
        ("2", day, "1", "400", "450", "part-0.csv", 3, T1),
        ("2", day, "1", "400", "450", "part-0 (resent).csv", 3, T2),  # identical: a duplicate (of the copy, which
    ]), 0, "app")                                                         # sorts after part-0.csv: extension aside)
    assert (c.inserted, c.duplicates, c.quarantined) == (2, 1, {"stale_redelivery": 1})
    assert _silver(spark, settings) == [(1, 12, 310, "part-1-corrections.csv"), (2, 12, 400, "part-0 (resent).csv")]


def test_conflicting_values_in_one_delivery_are_all_quarantined(spark, settings):
    spec = SPECS["sleep_day"]
    day = "4/12/2016 12:00:00 AM"
    c = process_batch(spark, settings, spec, _bronze(spark, [
        ("1", day, "1", "300", "350", "a.csv", 2, T1),
        ("1", day, "1", "330", "350", "a.csv", 3, T1),  # same key, same file, other value: both quarantined
        ("1", day, "1", "300", "350", "a.csv", 4, T1),
        ("2", day, "1", "400", "450", "a.csv", 5, T1),
        ("2", day, "01", "400", "450", "a.csv", 6, T1),  # "01" and "1" are the same value: a duplicate
        ("3", day, "1", "100", "150", "a.csv", 7, T1),
        ("3", day, "1", "120", "150", "b.csv", 2, T1),  # another file: a correction, not a conflict
    ]), 0, "app")
    assert c.quarantined == {"conflicting_values_in_delivery": 3}
    assert (c.inserted, c.duplicates) == (2, 2) and c.reconciles
    assert _silver(spark, settings) == [(2, 12, 400, "a.csv"), (3, 12, 120, "b.csv")]


def test_classify_changes_null_safe_and_delete_markers(spark):
    target = spark.createDataFrame([(1, None, "x"), (2, 5, "y"), (3, 7, "z")], "k INT, v INT, w STRING")
    source = spark.createDataFrame(
        [(1, None, "x", False), (2, 6, "y", False), (3, None, None, True), (4, 1, "n", False), (5, None, None, True)],
        "k INT, v INT, w STRING, _delete BOOLEAN",
    )
    out = M.classify_changes(source, target, ["k"], ["v", "w"], newer=None).orderBy("k")
    assert [r["_action"] for r in out.collect()] == ["unchanged", "update", "delete", "insert", "unchanged"]


def test_table_version_reads_the_log(spark, settings):
    ref = settings.table("silver", "sleep_day")
    assert M.table_version(spark, ref) is None
    delta_io.write(spark.createDataFrame([(1,)], "x INT"), ref)
    delta_io.write(spark.createDataFrame([(2,)], "x INT"), ref)
    assert M.table_version(spark, ref) == 1
