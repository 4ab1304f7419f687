"""What a local Delta table's log says, read from its files: no Spark, no import of the rest of fitlake.

``spark.py`` (registering the tables found under a root) and ``delta_io.py`` (reads and writes) both need these, so
they live below both and neither imports the other for them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def rs_can_open(path: str | os.PathLike) -> bool:
    """Whether the independent Delta reader (delta-rs) can open a table at ``path``: it reads a backslash as a folder
    separator, also in the folder a link points to (it resolves links), so such a table is "not found"."""
    return "\\" not in str(path) and "\\" not in os.path.realpath(path)


def has_commit(path: str | Path) -> bool:
    """A Delta table exists once its log holds a commit: a process killed while creating a table can leave an
    empty ``_delta_log`` folder behind, which readers reject as "not a Delta table"."""
    log = Path(path, "_delta_log")
    return log.is_dir() and any(p.name.split(".")[0].isdigit() for p in log.iterdir()
                                if p.name.endswith(".json") or ".checkpoint" in p.name)


def latest_version(path: str | Path) -> int | None:
    """The table's latest committed version, from its log's file names (a checkpoint never removes the newest
    commit file); None when it has no commit."""
    log = Path(path, "_delta_log")
    if not log.is_dir():
        return None
    versions = [int(p.name.split(".")[0]) for p in log.glob("*.json") if p.name.split(".")[0].isdigit()]
    return max(versions) if versions else None


def clear_failed_create(path: str | Path) -> bool:
    """Remove what a process killed while creating a table left behind when it never committed: ``_delta_log`` (temp
    files, an empty ``_staged_commits``) and the data files a ``CREATE TABLE ... AS SELECT`` wrote before its commit
    (``part-*`` and their ``.crc``, ``_change_data``). With no commit nothing refers to any of them, while Delta takes
    such a folder for an existing table: CREATE ... IF NOT EXISTS does nothing and later reads fail (the log), and
    CREATE TABLE ... AS SELECT fails with TABLE_OR_VIEW_ALREADY_EXISTS (the data files). True when it removed
    something."""
    folder = Path(path)
    if not folder.is_dir() or has_commit(path):
        return False
    removed = False
    for p in folder.iterdir():
        if p.name in ("_delta_log", "_change_data") and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.name.lstrip(".").startswith("part-") and p.is_file():
            p.unlink()
        else:
            continue
        removed = True
    return removed


ROW_BYTES = 64
"""A row's weight when sizing a command's input (``input_bytes``): about what a row takes in a landing CSV (Fitbit's
rows are 30-150 bytes). Delta's Parquet holds the same rows in 2-20x fewer bytes (silver.hourly_steps at B1 1x:
8.6 M rows in 13.5 MB), so its file sizes understate how much work reading them is."""


def _input_bytes_of(add: dict) -> int:
    """``ROW_BYTES`` x the file's ``numRecords`` (its statistics); its size when the log has no row count."""
    import json

    try:
        rows = json.loads(add.get("stats") or "{}").get("numRecords")
    except ValueError:
        rows = None
    return rows * ROW_BYTES if isinstance(rows, int) else int(add.get("size") or 0)


def added_input_bytes(path: str | Path, after_version: int) -> int:
    """``added_bytes`` with each file sized by its rows (``ROW_BYTES`` a row), for deciding how big a run is."""
    return sum(c["input"] for c in _commits_after(path, after_version).values())


def appended_input_bytes(path: str | Path, after_version: int) -> int:
    """``appended_bytes_by_version``'s commits, each file sized by its rows (``ROW_BYTES`` a row), summed."""
    return sum(c["input"] for c in _commits_after(path, after_version).values() if c["added"] and not c["removed"])


def current_input_bytes(path: str | Path) -> int:
    """The table's current data files sized by their rows (``ROW_BYTES`` a row; delta-rs reads the log, checkpoints
    included), or their bytes on disk when delta-rs cannot open it (``rs_can_open``)."""
    if rs_can_open(path):
        from deltalake import DeltaTable

        actions = DeltaTable(str(path)).get_add_actions(flatten=True)
        names = actions.schema.names
        if "num_records" in names:
            rows, sizes = actions.column("num_records").to_pylist(), actions.column("size_bytes").to_pylist()
            return sum(r * ROW_BYTES if r is not None else (b or 0) for r, b in zip(rows, sizes))
    return sum(p.stat().st_size for p in Path(path).rglob("*.parquet"))


def added_bytes(path: str | Path, after_version: int) -> int:
    """Bytes of the data files the commits after ``after_version`` added (``add.size`` in their JSON), 0 when there
    are none; a commit whose JSON the log no longer keeps counts 0."""
    return sum(c["added"] for c in _commits_after(path, after_version).values())


def appended_bytes_by_version(path: str | Path, after_version: int) -> dict[int, int]:
    """{version: bytes added} for the commits after ``after_version`` that only appended data (data files added,
    none removed): what a reader of new rows reads. A DELETE (``fitlake forget``) or MERGE removes files, OPTIMIZE
    changes no data, CREATE/ALTER add none: left out, as Delta's streaming ``skipChangeCommits`` skips them."""
    return {v: c["added"] for v, c in _commits_after(path, after_version).items() if c["added"] and not c["removed"]}


def _commits_after(path: str | Path, after_version: int) -> dict[int, dict]:
    import json

    log = Path(path, "_delta_log")
    if not log.is_dir():
        return {}
    commits: dict[int, dict] = {}
    for p in log.glob("*.json"):
        stem = p.name.split(".")[0]
        if not stem.isdigit() or int(stem) <= after_version:
            continue
        added, removed, weighed = 0, False, 0
        for line in p.read_text(encoding="utf-8").splitlines():
            if '"add"' in line or '"remove"' in line:
                action = json.loads(line)
                if (action.get("add") or {}).get("dataChange", True) and "add" in action:
                    added += int(action["add"].get("size") or 0)
                    weighed += _input_bytes_of(action["add"])
                if "remove" in action and (action.get("remove") or {}).get("dataChange", True):
                    removed = True
        commits[int(stem)] = {"added": added, "removed": removed, "input": weighed}
    return dict(sorted(commits.items()))


def removed_since(path: str | Path, since_ms: int) -> set[str]:
    """The files (their log paths, %-encoded) that a remove action with ``deletionTimestamp`` after ``since_ms`` names:
    VACUUM keeps a removed file until its removal is older than the retention, however old the file itself. Read from
    the commit JSON files written since (by file time, an hour's margin): Delta keeps those for its log retention
    (30 days), far longer than any VACUUM retention, so a checkpoint never hides one."""
    import json

    log = Path(path, "_delta_log")
    if not log.is_dir():
        return set()
    out = set()
    for p in log.glob("*.json"):
        try:
            if not p.name.split(".")[0].isdigit() or p.stat().st_mtime * 1000 < since_ms - 3_600_000:
                continue
            lines = p.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:  # log clean-up removed it meanwhile: older than any retention
            continue
        for line in lines:
            if '"remove"' in line:
                remove = json.loads(line).get("remove") or {}
                if int(remove.get("deletionTimestamp") or 0) > since_ms:
                    out.add(remove["path"])
    return out


def change_feed_enabled(path: str | Path) -> bool:
    """Whether the metadata in force turns on the change data feed (``delta.enableChangeDataFeed``): the newest
    metaData action of the commit JSON files, else of the last checkpoint; False when neither holds one."""
    return _feed_on(_metadata_in_force(Path(path, "_delta_log")))


def _feed_on(meta: dict | None) -> bool:
    return str(((meta or {}).get("configuration") or {}).get("delta.enableChangeDataFeed", "")).lower() == "true"


def _metadata_in_force(log: Path) -> dict | None:
    import json

    if not log.is_dir():
        return None
    commits = sorted((p for p in log.glob("*.json") if p.name.split(".")[0].isdigit()), key=lambda p: p.name)
    meta = None
    for p in reversed(commits):
        for line in p.read_text(encoding="utf-8").splitlines():
            if '"metaData"' in line:
                meta = json.loads(line).get("metaData") or meta
        if meta is not None:
            break
    return meta if meta is not None else _checkpoint_metadata(log)


def appended_files(path: str | Path, low: int, high: int) -> list[str] | None:
    """The data files (absolute paths) that commits ``low``..``high`` added, when reading them as plain Parquet with
    the table's schema gives exactly the rows the change data feed returns for those versions (every one an
    insert); None when it may not, and the feed must be read: the feed not on since the table was created (version
    0's metaData) or not on now, column mapping, or a commit in the range that is not a plain append
    (``_plain_adds``)."""
    log = Path(path, "_delta_log")
    created = _commit_actions(log, 0)
    now = _metadata_in_force(log)
    if created is None or now is None:
        return None
    first = next((a["metaData"] for a in created if "metaData" in a), None)
    for meta in (first, now):
        if not _feed_on(meta) or _column_mapping(meta):
            return None
    return _plain_adds(path, log, low, high)


def current_files(path: str | Path) -> list[str] | None:
    """The data files (absolute paths) of the table's latest version, when every commit since the table was created
    only appended plain files: reading them as Parquet with the table's schema then gives exactly the rows Delta's
    reader gives, without its snapshot state and file-filtering Spark jobs. None when it may not (read the table
    with Delta): no commit, or ``files_as_of`` says None."""
    latest = latest_version(path)
    return None if latest is None else files_as_of(path, latest)


def files_as_of(path: str | Path, version: int) -> list[str] | None:
    """``current_files`` as of ``version``: the files commits 0..``version`` added, when each was a plain append
    (``_plain_adds``) and the table has no column mapping; else None."""
    log = Path(path, "_delta_log")
    created = _commit_actions(log, 0)
    if created is None:
        return None
    first = next((a["metaData"] for a in created if "metaData" in a), None)
    if first is None or _column_mapping(first):
        return None
    return _plain_adds(path, log, 0, version, first, live=True)


def _column_mapping(meta: dict | None) -> bool:
    return ((meta or {}).get("configuration") or {}).get("delta.columnMapping.mode", "none") != "none"


def _commit_actions(log: Path, version: int) -> list[dict] | None:
    import json

    try:
        text = Path(log, f"{version:020d}.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _plain_adds(path: str | Path, log: Path, low: int, high: int, created: dict | None = None,
                live: bool = False) -> list[str] | None:
    """The files commits ``low``..``high`` added, or None at the first that is not a plain append: its JSON missing
    (cleaned up after a checkpoint), a removed file (an update, delete, OPTIMIZE), change data files, a metadata
    change after version 0 (with ``created``, version 0's metaData: a change of the table's properties alone is
    allowed, not of its schema, partitioning or column mapping), or an added file with a deletion vector, partition
    values or a path outside the table. An add marked ``dataChange: false`` brings no change data (the feed has no
    row of it) but its rows are the table's: left out of the changes, counted with ``live`` (the files holding the
    table's rows at ``high``)."""
    from urllib.parse import unquote

    files = []
    for version in range(low, high + 1):
        commit = _commit_actions(log, version)
        if commit is None:
            return None
        for action in commit:
            if "remove" in action or "cdc" in action:
                return None
            meta = action.get("metaData")
            if meta is not None and version > 0 and not _same_layout(created, meta):
                return None
            add = action.get("add")
            if add is None or (not live and not add.get("dataChange", True)):
                continue
            if add.get("partitionValues") or add.get("deletionVector") or "://" in add["path"] \
                    or add["path"].startswith("/"):
                return None
            files.append(str(Path(path, unquote(add["path"]))))
    return files


def _same_layout(created: dict | None, meta: dict) -> bool:
    """Whether a later metaData action keeps version 0's schema, partitioning and (no) column mapping."""
    return (created is not None and meta.get("schemaString") == created.get("schemaString")
            and (meta.get("partitionColumns") or []) == (created.get("partitionColumns") or [])
            and not _column_mapping(meta))


def _checkpoint_metadata(log: Path) -> dict | None:
    import pyarrow.parquet as pq

    parts = sorted(log.glob("*.checkpoint*.parquet"), key=lambda p: p.name)
    if not parts:
        return None
    newest = parts[-1].name.split(".")[0]
    for part in (p for p in parts if p.name.startswith(newest)):
        for row in pq.read_table(part, columns=["metaData"]).column("metaData").to_pylist():
            if row:
                conf = row.get("configuration")
                return {**row, "configuration": dict(conf) if isinstance(conf, list) else conf}
    return None
