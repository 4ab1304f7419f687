"""Silver reads bronze's change data feed in planned ranges of versions (no streaming query); bronze tables from
before the feed are streamed once, then read from the feed; a range cut short by a crash is redone exactly."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from fitlake import delta_io
from fitlake.config import TableRef
from fitlake.silver import job
from fitlake.silver.job import SilverState, process_table
from fitlake.silver.specs import SPECS

T1 = dt.datetime(2024, 1, 1)
COLS = [c.source for c in SPECS["sleep_day"].columns]
META = "_rescued_data STRING, _corrupt_record STRING, _source_file STRING, _line INT, _ingested_at TIMESTAMP"
FILES = [  # one bronze commit each
    ("a.csv", [("1", "4/12/2016 12:00:00 AM", "1", "300", "350"), ("3", "4/12/2016 12:00:00 AM", "1", "500", "450")]),
    ("b.csv", [("1", "4/12/2016 12:00:00 AM", "1", "310", "350"), ("2", "4/12/2016 12:00:00 AM", "1", "400", "450")]),
]
LATER = ("c.csv", [("4", "4/13/2016 12:00:00 AM", "1", "0", "5"), ("5", "4/13/2016 12:00:00 AM", "1", "9", "5")])
SILVER = ["user_id", "sleep_date", "total_minutes_asleep", "total_time_in_bed"]


def _append(spark, settings, name, rows, feed: bool) -> None:
    data = [(*r, None, None, name, i + 2, T1) for i, r in enumerate(rows)]
    df = spark.createDataFrame(data, ", ".join(f"{c} STRING" for c in COLS) + ", " + META).coalesce(1)
    writer = df.write.format("delta").mode("append")
    writer = writer.option("delta.enableChangeDataFeed", "true") if feed else writer
    writer.save(settings.table("bronze", "sleep_day").path)


def _rows(spark, settings, layer, cols):
    return sorted(tuple(r) for r in delta_io.read(spark, settings.table(layer, "sleep_day")).select(*cols).collect())


def _streamed(settings) -> bool:
    return Path(settings.checkpoint("silver", "sleep_day"), "offsets").is_dir()


def _stats_columns(path) -> set[str]:
    """The columns the table's files carry min/max statistics for (read from its log by delta-rs)."""
    from deltalake import DeltaTable

    names = DeltaTable(str(path)).get_add_actions(flatten=True).schema.names
    return {n[len("min."):] for n in names if n.startswith("min.")}


EXPECTED = [(1, dt.datetime(2016, 4, 12), 310, 350), (2, dt.datetime(2016, 4, 12), 400, 450)]
EXPECTED_LATER = [*EXPECTED, (4, dt.datetime(2016, 4, 13), 0, 5)]


@pytest.mark.parametrize("feed", [True, False], ids=["bronze-with-feed", "bronze-before-the-feed"])
def test_the_feed_and_the_stream_give_the_same_silver_and_the_stream_runs_once(spark, settings, feed):
    for name, rows in FILES:
        _append(spark, settings, name, rows, feed)
    bronze = settings.table("bronze", "sleep_day")
    first = process_table(spark, settings, "sleep_day")
    assert _streamed(settings) is not feed  # with the feed: no streaming query, no checkpoint offsets
    assert (first.rows_in, first.inserted, first.quarantined) == (4, 2, {"asleep_not_more_than_in_bed": 1})
    assert _rows(spark, settings, "silver", SILVER) == EXPECTED
    assert _stats_columns(settings.table("silver", "sleep_day").path) == {"user_id", "sleep_date"}  # its keys only
    assert delta_io.change_feed_enabled(bronze.path)  # turned on after the stream, for every later run
    assert SilverState(settings, "sleep_day").seen() == delta_io.table_version(spark, bronze)
    offsets = sorted(Path(settings.checkpoint("silver", "sleep_day"), "offsets").glob("*")) if not feed else []

    assert process_table(spark, settings, "sleep_day").batches == 0  # nothing new: nothing read
    _append(spark, settings, *LATER, feed=False)
    later = process_table(spark, settings, "sleep_day")
    assert (later.rows_in, later.inserted, later.quarantined) == (2, 1, {"asleep_not_more_than_in_bed": 1})
    assert _rows(spark, settings, "silver", SILVER) == EXPECTED_LATER
    if not feed:  # the later file came from the feed: the stream's checkpoint did not move
        assert sorted(Path(settings.checkpoint("silver", "sleep_day"), "offsets").glob("*")) == offsets
    quarantined = _rows(spark, settings, "quarantine", ["_source_file", "_line"])
    assert quarantined == [("a.csv", 3), ("c.csv", 3)]  # each once


def _txn_actions(path) -> list[dict]:
    """Delta's idempotent-write marks (``txn`` actions) in a table's JSON commits."""
    out = []
    for commit in sorted(Path(path, "_delta_log").glob("*.json")):
        out += [a["txn"] for a in map(json.loads, commit.read_text().splitlines()) if "txn" in a]
    return out


def test_ranges_are_bounded_by_bytes_and_a_range_cut_short_is_redone_exactly(spark, settings, monkeypatch, tmp_path):
    """One bronze version per range; killed after the first range's writes committed (its quarantined row, the
    silver table's creation), before its end was recorded: the rerun redoes that range, then the rest, and every
    silver and quarantine row is there once, as in one uninterrupted run. The writes are plain: no commit carries
    Delta's txn mark (checking one builds the table's whole state, a Spark job per write)."""
    for name, rows in FILES:
        _append(spark, settings, name, rows, feed=True)
    _append(spark, settings, *LATER, feed=True)
    reference = settings.with_overrides(root=tmp_path / "reference")
    shutil.copytree(settings.root / "bronze", reference.root / "bronze")
    whole = process_table(spark, reference, "sleep_day")
    assert whole.batches == 1

    small = settings.with_overrides(silver_batch_bytes="1b")  # one bronze version per range
    saved = SilverState.save_seen
    calls = []

    def crash_after_the_first_range(self, version):
        calls.append(version)
        if len(calls) == 1:  # the range's writes are committed, its end is not recorded: a kill -9 here
            raise KeyboardInterrupt("killed")
        saved(self, version)

    monkeypatch.setattr(SilverState, "save_seen", crash_after_the_first_range)
    with pytest.raises(KeyboardInterrupt):
        process_table(spark, small, "sleep_day")
    assert SilverState(small, "sleep_day").plan() == (0, 0)  # the range in progress stays planned
    quarantine = small.table("quarantine", "sleep_day")
    assert _rows(spark, small, "quarantine", ["_source_file", "_line"]) == [("a.csv", 3)]  # committed before the kill
    monkeypatch.setattr(SilverState, "save_seen", saved)
    read, reader = [], job.read_bronze_changes
    monkeypatch.setattr(job, "read_bronze_changes", lambda s, ref, low, high: read.append((low, high)) or
                        reader(s, ref, low, high))
    again = process_table(spark, small, "sleep_day")
    assert read == [(0, 0), (1, 1), (2, 2)]  # the planned range first, exactly, then the rest
    assert again.batches == 3 and SilverState(small, "sleep_day").plan() is None
    for layer, cols in (("silver", SILVER), ("quarantine", ["_rule", "_source_file", "_line"])):
        assert _rows(spark, small, layer, cols) == _rows(spark, reference, layer, cols)  # nothing twice, nothing lost
    assert _txn_actions(small.table("silver", "sleep_day").path) == [] and _txn_actions(quarantine.path) == []


def test_a_small_silver_run_is_planned_up_front(spark, settings):
    """silver_conf: what silver has to read (bronze bytes not yet read) at most interpreted_max_bytes on a local
    target -> spark.SMALL_STAGE_CONF (no AQE, one shuffle partition, no broadcast); more, or none to tell -> {}."""
    from dataclasses import replace

    from fitlake.spark import SMALL_STAGE_CONF

    assert job.silver_conf(settings, ["sleep_day"]) == SMALL_STAGE_CONF  # nothing to read yet
    _append(spark, settings, "a.csv", FILES[0][1], feed=True)
    pending = job.pending_bytes(settings, "sleep_day")
    assert pending > 0
    assert job.silver_conf(replace(settings, interpreted_max_bytes=pending), ["sleep_day"]) == SMALL_STAGE_CONF
    assert job.silver_conf(replace(settings, interpreted_max_bytes=pending - 1), ["sleep_day"]) == {}
    assert job.silver_conf(replace(settings, target="dev"), ["sleep_day"]) == {}


def test_a_range_of_more_than_big_batch_bytes_runs_with_small_splits_and_many_shuffle_partitions(
        spark, settings, monkeypatch):
    """A range of bronze versions holding more than spark.BIG_BATCH_BYTES of Parquet (a 10x first load: one version
    of 86 M rows) is read and processed under BIG_BATCH_CONF (16 MB splits, 200 initial shuffle partitions), so its
    key survey neither sorts nor spills; a smaller range, and the rest of the run, under the session's own conf."""
    from fitlake.spark import BIG_BATCH_CONF

    for name, rows in FILES:
        _append(spark, settings, name, rows, feed=True)
    sizes = delta_io.appended_bytes_by_version(settings.table("bronze", "sleep_day").path, -1)
    assert sizes[0] != sizes[1]
    monkeypatch.setattr(job, "BIG_BATCH_BYTES", (sizes[0] + sizes[1]) // 2)  # one version over it, one under
    keys = list(BIG_BATCH_CONF)
    before = [spark.conf.get(k, None) for k in keys]
    seen, process = {}, job.process_batch

    def recording(session, s, spec, bronze, batch_id, *a, **kw):
        seen[batch_id] = [session.conf.get(k, None) for k in keys]
        return process(session, s, spec, bronze, batch_id, *a, **kw)

    monkeypatch.setattr(job, "process_batch", recording)
    counts = process_table(spark, settings.with_overrides(silver_batch_bytes="1b"), "sleep_day")
    big, small = (0, 1) if sizes[0] > sizes[1] else (1, 0)
    assert counts.batches == 2
    assert seen[big] == list(BIG_BATCH_CONF.values())
    assert seen[small] == before != seen[big]
    assert [spark.conf.get(k, None) for k in keys] == before  # restored after the range
    assert _rows(spark, settings, "silver", SILVER) == EXPECTED


def _feed(spark, path: str, low: int, high: int):
    rows = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", low)
            .option("endingVersion", high).load(path).where("_change_type = 'insert'").drop(*job.CDF_COLUMNS))
    return rows.columns, sorted(map(tuple, rows.collect()), key=repr)


def test_appended_versions_are_read_from_their_files_as_the_feed_gives_them(spark, settings):
    """read_bronze_changes reads the files that append-only versions added (delta_io.appended_files) instead of the
    feed, the creating commit's included (a first load reads every file bronze holds), with the same rows and
    columns, also after the table gained a column; a range with any other commit (a DELETE, an ALTER) or a table
    without the feed since its creation: None, the feed is read."""
    for name, rows in [*FILES, LATER]:
        _append(spark, settings, name, rows, feed=True)  # versions 0 (creates the table), 1, 2
    bronze = settings.table("bronze", "sleep_day")
    assert len(delta_io.appended_files(bronze.path, 1, 2)) == 2
    assert len(delta_io.appended_files(bronze.path, 0, 2)) == 3  # the creating commit's file too
    direct = job.read_bronze_changes(spark, bronze, 1, 2)
    assert (direct.columns, sorted(map(tuple, direct.collect()), key=repr)) == _feed(spark, bronze.path, 1, 2)
    assert direct.count() == 4
    first = job.read_bronze_changes(spark, bronze, 0, 2)
    plan = first._jdf.queryExecution().analyzed().toString()
    assert "parquet" in plan.lower() and "CDF" not in plan.upper(), plan  # plain files, not the feed's relation
    assert (first.columns, sorted(map(tuple, first.collect()), key=repr)) == _feed(spark, bronze.path, 0, 2)

    spark.sql(f"ALTER TABLE delta.`{bronze.path}` ADD COLUMNS (extra STRING)")  # version 3
    spark.sql(f"DELETE FROM delta.`{bronze.path}` WHERE Id = '5'")  # version 4: rewrites c.csv's file
    _append(spark, settings, "d.csv", [("6", "4/14/2016 12:00:00 AM", "1", "1", "5")], feed=False)  # version 5
    assert delta_io.appended_files(bronze.path, 3, 3) is None and delta_io.appended_files(bronze.path, 4, 4) is None
    for low, high in ((1, 2), (5, 5)):
        got = job.read_bronze_changes(spark, bronze, low, high)
        assert "extra" in got.columns
        assert (got.columns, sorted(map(tuple, got.collect()), key=repr)) == _feed(spark, bronze.path, low, high)

    other = settings.table("bronze", "daily_steps")  # created without the feed, turned on later
    spark.createDataFrame([("1",)], "Id STRING").write.format("delta").save(other.path)
    spark.sql(f"ALTER TABLE delta.`{other.path}` SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    spark.createDataFrame([("2",)], "Id STRING").write.format("delta").mode("append").save(other.path)
    assert delta_io.appended_files(other.path, 2, 2) is None


def test_appended_files_are_read_under_a_folder_named_like_a_glob(spark, tmp_path):
    """The files' paths are taken literally (``delta_io.read_files``): under a folder whose name holds glob
    characters (a backslash, brackets, braces) each file is read once, neither taken for a pattern that matches
    nothing (PATH_NOT_FOUND) nor for its whole folder (with globbing off, Hadoop read every file of it per path)."""
    for name in ("back\\slash [a] {b}", "plain"):
        path = tmp_path / name / "bronze"
        rows = [(str(i), "x") for i in range(6)]
        spark.createDataFrame(rows, "Id STRING, v STRING").repartition(3).write.format("delta") \
            .option("delta.enableChangeDataFeed", "true").save(str(path))
        ref = TableRef("bronze", "t", "bronze.t", str(path))
        assert len(delta_io.appended_files(ref.path, 0, 0)) == 3
        assert sorted(map(tuple, job.read_bronze_changes(spark, ref, 0, 0).collect())) == rows
