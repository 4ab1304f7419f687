"""The silver MERGE: newer deliveries win, replays and identical rows commit nothing, quarantine is guarded too."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

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


def test_a_batch_redone_with_plain_writes_writes_nothing_twice(spark, settings):
    """Silver's planned ranges write without Delta's txn guard (``app_id`` None). Replayed after its writes committed
    (``redo``): its quarantined rows, a failed rule's and a stale re-delivery's, are found stored by their content
    and not appended again, and silver's rows classify as unchanged: no commit on either table."""
    spec = SPECS["sleep_day"]
    day = "4/12/2016 12:00:00 AM"
    process_batch(spark, settings, spec, _bronze(spark, [
        ("1", day, "1", "300", "350", "part-0.csv", 2, T1),
        ("1", day, "1", "310", "350", "part-1-corrections.csv", 2, T1),
        ("2", day, "1", "400", "450", "part-0.csv", 3, T1)]), 0, None)
    resent = [("1", day, "1", "300", "350", "part-0 (resent).csv", 2, T2),  # stale
              ("2", day, "1", "410", "450", "part-0 (resent).csv", 3, T2),  # newer: an update
              ("3", day, "1", "500", "450", "part-0 (resent).csv", 4, T2)]  # asleep > in bed
    first = process_batch(spark, settings, spec, _bronze(spark, resent), 1, None)
    assert (first.updated, first.quarantined) == (1, {"stale_redelivery": 1, "asleep_not_more_than_in_bed": 1})
    stored = _silver(spark, settings)
    v = (_version(spark, settings), _version(spark, settings, "quarantine"))

    replay = process_batch(spark, settings, spec, _bronze(spark, resent), 1, None, redo=True)
    assert (replay.updated, replay.unchanged, replay.quarantined) == (
        0, 1, {"stale_redelivery": 1, "asleep_not_more_than_in_bed": 1}) and replay.reconciles
    assert (_version(spark, settings), _version(spark, settings, "quarantine")) == v
    assert _silver(spark, settings) == stored
    q = delta_io.read(spark, settings.table("quarantine", "sleep_day")).collect()
    assert sorted((r._rule, r.Id) for r in q) == [("asleep_not_more_than_in_bed", "3"), ("stale_redelivery", "1")]
    for layer in ("silver", "quarantine"):
        log = Path(settings.table(layer, "sleep_day").path, "_delta_log")
        assert not any('"txn"' in f.read_text() for f in log.glob("*.json")), layer


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


def test_a_batch_of_only_new_keys_is_appended_without_a_join(spark, settings, monkeypatch):
    """A new day: the stored files' statistics show no row in the batch's key range, so its rows are appended without
    reading silver (no classification join); the counts are the same, and a replay still commits nothing."""
    spec = SPECS["sleep_day"]
    process_batch(spark, settings, spec, _bronze(spark, [
        ("1", "4/12/2016 12:00:00 AM", "1", "300", "350", "a.csv", 2, T1)]), 0, "app")
    b1 = _bronze(spark, [
        ("1", "4/13/2016 12:00:00 AM", "1", "310", "350", "b.csv", 2, T2),
        ("1", "4/13/2016 12:00:00 AM", "1", "310", "350", "b.csv", 3, T2),  # exact duplicate in the batch
        ("2", "4/14/2016 12:00:00 AM", "1", "200", "250", "b.csv", 4, T2),
        ("3", "4/14/2016 12:00:00 AM", "1", "500", "450", "b.csv", 5, T2),  # asleep > in bed
    ])

    def no_join(*_args, **_kwargs):
        raise AssertionError("a batch of only new keys was classified against the target")

    with monkeypatch.context() as m:
        m.setattr(M, "classify_changes", no_join)
        c1 = process_batch(spark, settings, spec, b1, 1, "app")
    assert (c1.rows_in, c1.inserted, c1.updated, c1.unchanged, c1.duplicates, c1.quarantined_total) == (4, 2, 0, 0, 1, 1)
    assert c1.reconciles
    v = _version(spark, settings)
    assert delta_io.commit_metrics(spark, settings.table("silver", "sleep_day"), v)["numOutputRows"] == "2"
    assert _silver(spark, settings) == [(1, 12, 300, "a.csv"), (1, 13, 310, "b.csv"), (2, 14, 200, "b.csv")]

    # replayed (killed before the state was saved): the rows are stored now, so it is classified, and nothing commits
    replay = process_batch(spark, settings, spec, b1, 1, "app")
    assert (replay.inserted, replay.unchanged, replay.duplicates) == (0, 2, 1) and replay.reconciles
    assert _version(spark, settings) == v


def test_upsert_of_new_keys_counts_delete_markers_as_unchanged(spark, settings, monkeypatch):
    """Gold's shape (its KeyRange, delete markers for keys that produced no row). With no stored row in the range, no
    target row is read, a marker deletes nothing (unchanged), the rows are inserted; no rows at all commit nothing."""
    ref = settings.table("gold", "fact_sleep")  # any path: the schema is the test's own
    delta_io.write(spark.createDataFrame([(1, dt.date(2024, 1, 1), 5)], "k INT, date DATE, v INT"), ref)
    source = spark.createDataFrame([(1, dt.date(2024, 1, 2), 6, False), (2, dt.date(2024, 1, 3), None, True)],
                                   "k INT, date DATE, v INT, _delete BOOLEAN")
    bounds = M.KeyRange("date", "2024-01-02", "2024-01-03", "DATE")  # as gold.job.update_table builds it
    with monkeypatch.context() as m:
        m.setattr(M, "classify_changes", lambda *a, **k: (_ for _ in ()).throw(AssertionError("target read")))
        counts = M.upsert(spark, ref, source, ["k", "date"], ["v"], bounds, newer=None)
    assert (counts["insert"], counts["unchanged"], counts["delete"]) == (1, 1, 0)
    assert sorted(tuple(r) for r in delta_io.read(spark, ref).collect()) == [(1, dt.date(2024, 1, 1), 5),
                                                                          (1, dt.date(2024, 1, 2), 6)]
    v = M.table_version(spark, ref)
    empty = spark.createDataFrame([], "k INT, date DATE, v INT")
    later = M.KeyRange("date", "2024-02-01", "2024-02-01", "date")
    assert M.upsert(spark, ref, empty, ["k", "date"], ["v"], later, newer=None, rows=0)["insert"] == 0
    assert M.table_version(spark, ref) == v


def test_may_hold_reads_the_file_statistics(spark, settings):
    from fitlake.config import TableRef

    ref = settings.table("silver", "daily_steps")  # any path: the schema is the test's own
    rows = [(1, dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 23, 0, 0)),
            (2, dt.date(2024, 1, 3), dt.datetime(2024, 1, 3, 10, 30, 0))]
    delta_io.write(spark.createDataFrame(rows, "k BIGINT, d DATE, ts TIMESTAMP").coalesce(1), ref)
    day = dt.date
    assert delta_io.may_hold(ref, "d", day(2024, 1, 2), day(2024, 1, 2))  # inside the file's range (no row there)
    assert delta_io.may_hold(ref, "d", day(2024, 1, 3), day(2024, 1, 9))  # at its max
    assert not delta_io.may_hold(ref, "d", day(2024, 1, 4), day(2024, 1, 9))
    assert not delta_io.may_hold(ref, "d", day(2023, 12, 1), day(2023, 12, 31))
    assert delta_io.may_hold(ref, "k", 2, 5) and not delta_io.may_hold(ref, "k", 3, 5)
    # timestamps: statistics are in milliseconds, so a bound within a millisecond of the max may hold
    high = dt.datetime(2024, 1, 3, 10, 30, 0)
    assert delta_io.may_hold(ref, "ts", high + dt.timedelta(microseconds=500), high + dt.timedelta(days=1))
    assert not delta_io.may_hold(ref, "ts", high + dt.timedelta(milliseconds=2), high + dt.timedelta(days=1))
    # the KeyRange text Spark gives (trailing zeros of the fraction dropped) reads the same
    assert M.KeyRange("ts", "2024-01-03 10:30:00.5", "2024-01-04 00:00:00", "timestamp").values() == (
        dt.datetime(2024, 1, 3, 10, 30, 0, 500000), dt.datetime(2024, 1, 4))
    assert M.KeyRange("date", "2024-01-02", "2024-01-03", "DATE").values() == (day(2024, 1, 2), day(2024, 1, 3))  # gold's
    assert M.KeyRange("s", "a", "b", "string").values() is None
    # cannot tell: a column without statistics, a catalog table
    assert delta_io.may_hold(ref, "nope", 1, 2)
    assert delta_io.may_hold(TableRef("silver", "daily_steps", "main.fitlake.silver_daily_steps", None), "d", day(2030, 1, 1), day(2030, 1, 1))
    nostats = settings.table("silver", "hourly_steps")
    spark.sql(f"CREATE TABLE delta.`{nostats.path}` (k BIGINT, d DATE) USING DELTA "
              "TBLPROPERTIES ('delta.dataSkippingNumIndexedCols' = '0')")
    assert not delta_io.may_hold(nostats, "d", day(2030, 1, 1), day(2030, 1, 1))  # no file: no row
    delta_io.write(spark.createDataFrame(rows[:1], "k BIGINT, d DATE, ts TIMESTAMP").select("k", "d"), nostats)
    assert delta_io.may_hold(nostats, "d", day(2030, 1, 1), day(2030, 1, 1))  # a file without statistics


def _kept(spark) -> int:
    """RDDs kept on this SparkContext besides Delta's own snapshot caches ("Delta Table State ...")."""
    rdds = spark.sparkContext._jsc.getPersistentRDDs().values()
    return sum(1 for r in rdds if not str(r.name() or "").startswith("Delta"))


def test_upsert_frees_the_rows_it_kept(spark, settings):
    """upsert keeps its classified rows (merge.keep: a local checkpoint on this local master) for the counts and the
    MERGE, and frees them after it, whichever way it wrote (MERGE, append, nothing)."""
    ref = settings.table("gold", "fact_sleep")  # any path: the schema is the test's own
    delta_io.write(spark.createDataFrame([(1, dt.date(2024, 1, 1), 5)], "k INT, date DATE, v INT"), ref)
    kept = _kept(spark)
    day = M.KeyRange("date", "2024-01-01", "2024-01-02", "date")
    update = spark.createDataFrame([(1, dt.date(2024, 1, 1), 6), (2, dt.date(2024, 1, 2), 7)], "k INT, date DATE, v INT")
    assert M.upsert(spark, ref, update, ["k", "date"], ["v"], day, newer=None)["update"] == 1
    assert _kept(spark) == kept
    assert M.upsert(spark, ref, update, ["k", "date"], ["v"], day, newer=None)["unchanged"] == 2  # no write
    assert _kept(spark) == kept
    assert sorted(tuple(r) for r in delta_io.read(spark, ref).collect()) == [(1, dt.date(2024, 1, 1), 6),
                                                                          (2, dt.date(2024, 1, 2), 7)]
    checkpointed = M.keep(update)
    assert checkpointed._jdf.logicalPlan().getClass().getSimpleName() == "LogicalRDD"  # one node: a local master
    assert _kept(spark) == kept + 1
    M.release(checkpointed)
    assert _kept(spark) == kept


def test_keep_and_release_without_a_spark_context_persist_and_unpersist():
    """Under Spark Connect a DataFrame's session has no SparkContext and the frame no ``_jdf``: ``keep`` persists on
    disk (a checkpoint would die with its executor) and ``release`` unpersists, instead of failing."""
    from pyspark import StorageLevel

    class NoContext:
        @property
        def sparkContext(self):
            raise RuntimeError("[JVM_ATTRIBUTE_NOT_SUPPORTED] sparkContext is not supported in Spark Connect")

    class ConnectFrame:  # what merge.keep/release use of a Spark Connect DataFrame
        sparkSession = NoContext()
        calls: list = []

        def persist(self, level):
            self.calls.append(("persist", level))
            return self

        def localCheckpoint(self, **kwargs):
            raise AssertionError("no local checkpoint without a local master")

        def unpersist(self):
            self.calls.append(("unpersist",))

    frame = ConnectFrame()
    assert M.keep(frame) is frame
    M.release(frame)
    assert frame.calls == [("persist", StorageLevel.DISK_ONLY), ("unpersist",)]
