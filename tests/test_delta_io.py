"""``delta_io.read_current``: a whole append-only local table read as its Parquet files gives Delta's rows and
schema; anything else a plain append cannot be trusted to show (a removed file, a schema change, column mapping)
falls back to Delta's reader. Gold's whole-table reads (``GoldRun.read(..., whole=True)``) go through it."""

from __future__ import annotations

from fitlake import delta_io
from fitlake.config import Settings, TableRef


def _ref(tmp_path, name: str = "t") -> TableRef:
    return TableRef("silver", name, f"silver.{name}", str(tmp_path / name))


def _delta_scan(df) -> bool:
    """Whether ``df`` scans through Delta's file index (a plain read of listed files has Spark's own)."""
    return "InMemoryFileIndex" not in df._jdf.queryExecution().executedPlan().toString()


def _same_as_delta(spark, ref: TableRef) -> list[tuple]:
    got, want = delta_io.read_current(spark, ref), delta_io.read(spark, ref)
    assert got.schema == want.schema
    rows = sorted(map(tuple, got.collect()), key=repr)
    assert rows == sorted(map(tuple, want.collect()), key=repr)
    return rows


def test_an_append_only_table_is_read_from_its_files_with_the_rows_delta_gives(spark, tmp_path):
    ref = _ref(tmp_path)
    spark.createDataFrame([(1, "a"), (2, None)], "id BIGINT, v STRING").write.format("delta").save(ref.path)
    spark.createDataFrame([(3, "c")], "id BIGINT, v STRING").write.format("delta").mode("append").save(ref.path)
    assert len(delta_io.current_files(ref.path)) >= 2
    assert not _delta_scan(delta_io.read_current(spark, ref))
    assert _same_as_delta(spark, ref) == [(1, "a"), (2, None), (3, "c")]

    # an append that says it changes no data (a tool rearranging rows may write one) still holds table rows
    spark.createDataFrame([(4, "d")], "id BIGINT, v STRING").write.format("delta").mode("append") \
        .option("dataChange", "false").save(ref.path)
    assert not _delta_scan(delta_io.read_current(spark, ref))
    assert _same_as_delta(spark, ref) == [(1, "a"), (2, None), (3, "c"), (4, "d")]

    # a change of the table's properties alone changes no row: still read from the files
    spark.sql(f"ALTER TABLE delta.`{ref.path}` SET TBLPROPERTIES ('delta.logRetentionDuration' = 'interval 30 days')")
    assert delta_io.current_files(ref.path) is not None
    _same_as_delta(spark, ref)


def test_a_removed_file_or_a_schema_change_is_read_by_delta(spark, tmp_path):
    deleted = _ref(tmp_path, "deleted")
    spark.createDataFrame([(1, "a"), (2, "b")], "id BIGINT, v STRING").coalesce(1).write.format("delta") \
        .option("delta.enableDeletionVectors", "true").save(deleted.path)
    spark.sql(f"DELETE FROM delta.`{deleted.path}` WHERE id = 2")  # a deletion vector: the file stays, a row goes
    assert delta_io.current_files(deleted.path) is None
    assert _delta_scan(delta_io.read_current(spark, deleted))
    assert _same_as_delta(spark, deleted) == [(1, "a")]

    widened = _ref(tmp_path, "widened")
    spark.createDataFrame([(1, "a")], "id BIGINT, v STRING").write.format("delta").save(widened.path)
    spark.sql(f"ALTER TABLE delta.`{widened.path}` ADD COLUMNS (extra STRING)")
    spark.createDataFrame([(2, "b", "x")], "id BIGINT, v STRING, extra STRING").write.format("delta") \
        .mode("append").save(widened.path)
    assert delta_io.current_files(widened.path) is None
    assert _same_as_delta(spark, widened) == [(1, "a", None), (2, "b", "x")]

    mapped = _ref(tmp_path, "mapped")  # column mapping: the files' column names are not the table's
    spark.createDataFrame([(1, "a")], "id BIGINT, v STRING").write.format("delta") \
        .option("delta.columnMapping.mode", "name").option("delta.minReaderVersion", "2") \
        .option("delta.minWriterVersion", "5").save(mapped.path)
    spark.sql(f"ALTER TABLE delta.`{mapped.path}` RENAME COLUMN v TO w")
    assert delta_io.current_files(mapped.path) is None
    assert _same_as_delta(spark, mapped) == [(1, "a")]


def test_gold_reads_a_whole_table_from_its_files_and_a_filtered_one_through_delta(spark, tmp_path):
    from fitlake.gold.job import GoldRun

    settings = Settings(root=tmp_path)
    ref = settings.table("silver", "weight_log")
    spark.createDataFrame([(1, 70.5)], "user_id BIGINT, weight_kg DOUBLE").write.format("delta").save(ref.path)
    run = GoldRun(spark, settings)
    assert not _delta_scan(run.read("silver", "weight_log", whole=True))
    assert _delta_scan(run.read("silver", "weight_log"))  # a filter to come: Delta skips files by their stats
    assert run.read("silver", "sleep_day", whole=True) is None  # no table yet


def test_a_version_before_the_first_rewrite_is_read_from_its_files(spark, tmp_path):
    """``read_as_of`` (how training pins its inputs, ``ml.lineage.read_pinned``): Delta's time travel's rows, from
    the files when every commit up to that version appended; a version after a rewrite goes through Delta."""
    ref = _ref(tmp_path)
    spark.createDataFrame([(1, "a")], "id BIGINT, v STRING").write.format("delta").save(ref.path)  # version 0
    spark.createDataFrame([(2, "b")], "id BIGINT, v STRING").write.format("delta").mode("append").save(ref.path)
    spark.sql(f"UPDATE delta.`{ref.path}` SET v = 'z' WHERE id = 1")  # version 2 rewrites a file
    for version, want, files in ((0, [(1, "a")], True), (1, [(1, "a"), (2, "b")], True),
                                 (2, [(1, "z"), (2, "b")], False)):
        got = delta_io.read_as_of(spark, ref, version)
        assert _delta_scan(got) != files, version
        travel = spark.read.format("delta").option("versionAsOf", version).load(ref.path)
        assert got.schema == travel.schema
        assert sorted(map(tuple, got.collect())) == sorted(map(tuple, travel.collect())) == want, version
