"""forget's retention-0 purge (``forget.purge_unreferenced``) on tiny Delta tables written with delta-rs: no Spark.

It must delete every data and Change Data Feed file the current version does not use (the person's old rows live
there) with its ``.crc`` sidecar, keep every file the current version uses, commit nothing, delete nothing on a
rerun, and leave tables it cannot judge from the data files alone (deletion vectors) to Delta's VACUUM. The
end-to-end erasure (killed with -9, then rerun) is tests/ops/test_maintain_forget.py."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from fitlake.config import TableRef
from fitlake.ops.forget import purge_unreferenced


def _ref(path: Path) -> TableRef:
    return TableRef("silver", path.name, f"silver.{path.name}", str(path))


def _files(root: Path) -> set[str]:
    return {f.relative_to(root).as_posix() for f in root.rglob("*") if f.is_file() and "_delta_log" not in f.parts}


def test_purge_deletes_exactly_what_the_current_version_does_not_use(tmp_path):
    root = tmp_path / "t"
    write_deltalake(str(root), pa.table({"user_id": [1, 2], "v": ["a", "b"]}))
    write_deltalake(str(root), pa.table({"user_id": [2], "v": ["b"]}), mode="overwrite")  # "1" now only in v0's file
    old = [f for f in root.glob("*.parquet")]
    # what Spark leaves beside its files, and what a writer killed before its commit leaves: all unused
    (root / "_change_data").mkdir()
    (root / "_change_data" / "cdc-00000-x.c000.snappy.parquet").write_bytes(b"old cdf rows")
    (root / "_change_data" / ".cdc-00000-x.c000.snappy.parquet.crc").write_bytes(b"crc")
    (root / "date=2023-04-01").mkdir()
    (root / "date=2023-04-01" / "part-00000-orphan.snappy.parquet").write_bytes(b"uncommitted")
    for f in old:
        f.with_name(f".{f.name}.crc").write_bytes(b"crc")
    table = DeltaTable(str(root))
    live = set(table.get_add_actions(flatten=True).column("path").to_pylist())
    version = table.version()
    assert len(old) == 2 and len(live) == 1

    deleted = purge_unreferenced(None, _ref(root))

    assert deleted == 3  # v0's data file, the CDF file, the orphan (sidecars are not counted)
    left = _files(root)
    assert left == live | {f".{p}.crc" for p in live}  # the current version's file and its sidecar, nothing else
    assert DeltaTable(str(root)).version() == version  # no commit
    assert DeltaTable(str(root)).to_pyarrow_table().to_pylist() == [{"user_id": 2, "v": "b"}]
    assert purge_unreferenced(None, _ref(root)) == 0 and _files(root) == left  # a rerun finds nothing left


def test_purge_keeps_the_files_of_partition_folders_with_escaped_names(tmp_path):
    """A partition value with a colon, a space or a percent sign: the folder is named with it escaped
    (``08%3A00``), the log names the file with that escaped again (``08%253A00``); decoded once, the log's name is
    the folder's, so every file of the current version is kept (decoding the folder's name too deleted them all)."""
    root = tmp_path / "p"
    write_deltalake(str(root), pa.table({"user_id": [1, 2, 3], "part": ["2023-04-01 08:00", "a%b", "x=y"]}),
                    partition_by=["part"])
    before = _files(root)
    assert any("%" in f.split("/")[0] for f in before)  # escaped folder names: the case this checks

    assert purge_unreferenced(None, _ref(root)) == 0
    assert _files(root) == before
    assert len(DeltaTable(str(root)).to_pyarrow_table()) == 3


def test_purge_leaves_a_table_with_deletion_vectors_to_vacuum(tmp_path):
    root = tmp_path / "dv"
    try:
        write_deltalake(str(root), pa.table({"user_id": [1]}),
                        configuration={"delta.enableDeletionVectors": "true"})
    except Exception as e:  # this delta-rs cannot create one: nothing to check here
        pytest.skip(f"delta-rs cannot write a deletion-vector table: {e}")
    if "deletionVectors" not in (DeltaTable(str(root)).protocol().reader_features or []):
        pytest.skip("delta-rs did not enable the deletionVectors feature")
    (root / "part-orphan.parquet").write_bytes(b"x")
    assert purge_unreferenced(None, _ref(root)) is None
    assert (root / "part-orphan.parquet").exists()
