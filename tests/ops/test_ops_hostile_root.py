"""`fitlake maintain` and `fitlake forget` on a lakehouse whose root holds a backslash, which the independent Delta
reader (delta-rs) reads as a path separator, so it cannot open any table there (``delta_io.rs_readable``): their
reads of the Delta log (file counts and properties, the files VACUUM would delete, a table's columns, "does the
person have rows here", the files the current version uses) fall back to Spark, with the same outcome.

A few small tables written by hand, not a pipeline run (seconds, not minutes): a silver table as silver creates it
(change data feed on) in three commits, and a quarantine table partitioned by a value Spark escapes in its folder
name and the Delta log %-encodes again (space, colon), whose raw records hold the person's id inside a text. The
silver table is none of gold's sources, so forget's catch-up has nothing to do. Rows are read back with Spark
(delta-rs cannot), files by listing the folder. The same operations on the fixture lakehouse, killed and rerun: tests/ops/test_maintain_forget.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fitlake import delta_io
from fitlake.config import Settings
from fitlake.frames import local_frame
from fitlake.silver.merge import create_with, table_version
from fitlake.silver.job import SILVER_PROPERTIES
from fitlake.silver.specs import SPECS

ERASED = 3026864709
OTHER = 1503960366
SILVER_SCHEMA = "user_id BIGINT, activity_date DATE, step_total INT"
QUARANTINE_SCHEMA = "Id STRING, _corrupt_record STRING, _ingested STRING"


def _silver_rows(day: int) -> list[tuple]:
    from datetime import date

    return [(ERASED, date(2023, 4, day), 1000 + day), (OTHER, date(2023, 4, day), 2000 + day)]


def _build(spark, settings: Settings) -> None:
    silver = settings.table("silver", "daily_steps")
    create_with(silver, local_frame(spark, _silver_rows(1), SILVER_SCHEMA), SPECS["daily_steps"].cluster_by,
                SILVER_PROPERTIES)
    for day in (2, 3):  # small files, several versions: something to compact, old files holding the person
        delta_io.write(local_frame(spark, _silver_rows(day), SILVER_SCHEMA), silver, mode="append")
    quarantine = settings.table("quarantine", "daily_activity")
    rows = [(None, f"{ERASED},4/1/2023,x", "2023-04-01 08:00"),  # the id only inside the raw text
            (str(OTHER), f"{OTHER},4/1/2023,y", "2023-04-01 08:00"),
            (str(ERASED), None, "2023-04-02 09:30")]
    for row in rows:
        delta_io.write(local_frame(spark, [row], QUARANTINE_SCHEMA), quarantine, mode="append",
                       partition_by=["_ingested"], **SILVER_PROPERTIES)


def _rows(spark, ref) -> list[tuple]:
    return sorted(tuple(str(v) for v in r) for r in spark.read.format("delta").load(ref.path).collect())


def _data_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.parquet") if "_delta_log" not in p.parts]


def _files_holding(root: Path, ident: str) -> list[str]:
    hits = []
    for path in _data_files(root):
        table = pq.read_table(path)
        if any(pc.any(pc.match_substring(pc.cast(c, pa.string()), ident)).as_py() for c in table.columns):
            hits.append(str(path))
    return hits


def _versions(settings: Settings) -> dict[str, int | None]:
    return {f"{layer}.{name}": table_version(None, settings.table(layer, name))
            for layer, name in (("silver", "daily_steps"), ("quarantine", "daily_activity"),
                                ("ops", "erasure_log"), ("ops", "suppressed_users"))}


def test_maintain_and_forget_under_a_root_with_a_backslash(spark, tmp_path):
    from baselines import forget_catalog

    from fitlake.ops.forget import forget
    from fitlake.ops.maintain import file_state, maintain, unreferenced_files

    settings = Settings(root=tmp_path / "back\\slash ü" / "lake")
    silver, quarantine = settings.table("silver", "daily_steps"), settings.table("quarantine", "daily_activity")
    assert not delta_io.rs_readable(silver)
    forget_catalog(spark)  # names another test registered for its root
    try:
        _build(spark, settings)
        rows = {ref.path: _rows(spark, ref) for ref in (silver, quarantine)}
        files_before = file_state(spark, silver)["numFiles"]
        assert files_before >= 3 and len(_data_files(Path(silver.path))) == files_before

        # maintain: compacts, sets the retention properties, keeps every row; a rerun commits nothing
        results, _ = maintain(spark, settings, say=lambda line: None)
        by_table = {r.table: r for r in results}
        assert set(by_table) == {"silver.daily_steps", "quarantine.daily_activity"}
        compacted = by_table["silver.daily_steps"]
        assert compacted.optimized and by_table["quarantine.daily_activity"].optimized
        assert compacted.files_before == files_before and compacted.files_after < files_before
        state = file_state(spark, silver)
        assert state["numFiles"] == compacted.files_after
        assert state["properties"]["delta.deletedFileRetentionDuration"] == "interval 7 days"
        assert all(r.properties_set == 3 and r.files_vacuumed == 0 for r in results)  # every file is new
        assert {ref.path: _rows(spark, ref) for ref in (silver, quarantine)} == rows
        v = _versions(settings)
        again, _ = maintain(spark, settings, say=lambda line: None)
        assert _versions(settings) == v and not any(r.optimized or r.properties_set or r.files_vacuumed
                                                    for r in again)

        # a file a writer killed before its commit left, older than the 7 days' retention: the one file VACUUM would
        # delete (counted, not vacuumed here: Delta's VACUUM cost this test ~70 CPU s); forget's purge deletes it
        assert unreferenced_files(spark, silver, 168) == 0
        kept = _data_files(Path(silver.path))
        orphan = Path(silver.path) / "part-00000-killed-writer.c000.snappy.parquet"
        orphan.write_bytes(kept[0].read_bytes())
        week_ago = time.time() - 8 * 24 * 3600
        os.utime(orphan, (week_ago, week_ago))
        assert unreferenced_files(spark, silver, 168) == 1

        # forget: the person's rows are gone from every table, and from every file under the root
        ident = str(ERASED)
        assert _files_holding(settings.root, ident)
        report = forget(spark, settings, ERASED, say=lambda line: None)
        assert report.rows_deleted == {"silver.daily_steps": 3, "quarantine.daily_activity": 2}
        assert report.files_vacuumed > 0
        assert _files_holding(settings.root, ident) == [] and not orphan.exists()
        assert _rows(spark, silver) == [r for r in rows[silver.path] if r[0] != ident]
        assert _rows(spark, quarantine) == [r for r in rows[quarantine.path] if r[0] == str(OTHER)]
        v = _versions(settings)
        rerun = forget(spark, settings, ERASED, say=lambda line: None)
        assert rerun.already_completed and rerun.total == 0 and rerun.files_vacuumed == 0
        assert _versions(settings) == v  # nothing committed anywhere
    finally:
        forget_catalog(spark)  # the next test of this worker registers its own roots
