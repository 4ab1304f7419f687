"""`fitlake maintain`'s "is there anything to VACUUM" (``maintain.unreferenced_files``) on tiny Delta tables written
with delta-rs: no Spark. It must count what ``VACUUM ... RETAIN 168 HOURS`` deletes: a file the current version
does not use, older than the retention and, if a commit removed it, removed longer ago than the retention (Delta
keeps a removed file for the retention from its removal, whatever the file's own age). Counting an old file that
OPTIMIZE replaced today made every maintain of the next 7 days run a VACUUM that deleted nothing, commit twice, and
report the files as vacuumed (checked against Spark's ``VACUUM ... DRY RUN`` on 2026-11-30: 13 counted, 1 deleted).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from fitlake.config import TableRef
from fitlake.ops.maintain import live_files, unreferenced_files, unreferenced_paths

WEEK_AND_A_DAY_AGO = time.time() - 8 * 24 * 3600


def _age(path: Path) -> None:
    os.utime(path, (WEEK_AND_A_DAY_AGO, WEEK_AND_A_DAY_AGO))


def test_a_file_removed_today_is_kept_however_old_and_an_old_orphan_is_not(tmp_path):
    root = tmp_path / "t"
    ref = TableRef("silver", "t", "silver.t", str(root))
    write_deltalake(str(root), pa.table({"user_id": [1, 2]}))
    (first,) = root.glob("*.parquet")
    _age(first)  # written 8 days ago ...
    assert unreferenced_files(None, ref, 168) == 0  # ... and still in use
    write_deltalake(str(root), pa.table({"user_id": [2]}), mode="overwrite")  # ... removed today
    orphan = root / "part-00000-killed-writer.c000.snappy.parquet"  # never committed, 8 days old
    orphan.write_bytes(first.read_bytes())
    _age(orphan)
    fresh_orphan = root / "part-00001-killed-writer.c000.snappy.parquet"  # never committed, just now
    fresh_orphan.write_bytes(first.read_bytes())

    assert unreferenced_files(None, ref, 168) == 1
    assert unreferenced_paths(ref, live_files(None, ref), 168) == [orphan]
    # forget's retention 0 ignores both ages: every file the current version does not use
    assert sorted(unreferenced_paths(ref, live_files(None, ref), None)) == sorted([first, orphan, fresh_orphan])
