"""Delta reads and writes at the edges, the same call for a local path or a Unity Catalog name."""

from __future__ import annotations

import datetime
import os
import re
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

from fitlake.config import TableRef
from fitlake.delta_log import (  # noqa: F401 - part of this module's API
    added_bytes, added_input_bytes, appended_bytes_by_version, appended_files, appended_input_bytes, change_feed_enabled,
    clear_failed_create, current_files, current_input_bytes, files_as_of, has_commit, latest_version, rs_can_open)
from fitlake.spark import register_table


def exists(spark, ref: TableRef) -> bool:
    if ref.path is not None:
        return has_commit(ref.path)
    return spark.catalog.tableExists(ref.full_name)


def read(spark, ref: TableRef):
    if ref.path is not None:
        return spark.read.format("delta").load(ref.path)
    return spark.read.table(ref.full_name)


def read_current(spark, ref: TableRef):
    """All current rows of ``ref``, for a reader that wants the whole table (no filter for Delta to skip files by):
    a local table that was only ever appended to (``current_files``) is read as its Parquet files with the table's
    schema. Delta's reader gives the same rows, but first computes the table's snapshot state and filters its file
    list, each a query of its own (gold's first load of the real export: 14 + 30 of its SQL executions). Otherwise:
    ``read``."""
    files = current_files(ref.path) if ref.path is not None else None
    if files is None:
        return read(spark, ref)
    return read_files(spark, read(spark, ref).schema, files)


def read_as_of(spark, ref: TableRef, version: int):
    """``ref`` as of ``version`` (Delta's time travel); a local table whose commits up to it only appended plain
    files (``files_as_of``) is read as those files, as ``read_current`` reads the latest."""
    reader = spark.read.format("delta").option("versionAsOf", version)
    df = reader.load(ref.path) if ref.path is not None else reader.table(ref.full_name)
    files = files_as_of(ref.path, version) if ref.path is not None else None
    return df if files is None else read_files(spark, df.schema, files)


def sql_name(ref: TableRef) -> str:
    """How SQL names ``ref``: ``delta.`<path>``` for a table by its folder (any path quoted: spaces, quotes,
    backticks), else its catalog name."""
    from fitlake.sqltext import delta_path

    return delta_path(ref.path) if ref.path is not None else ref.full_name


def set_properties(spark, ref: TableRef, properties: dict[str, str]) -> None:
    """``ALTER TABLE ... SET TBLPROPERTIES`` with ``properties`` (keys and values quoted): one commit; callers pass
    only what the table lacks, so a rerun commits nothing."""
    from fitlake.sqltext import string_literal

    if properties:
        pairs = ", ".join(f"{string_literal(k)} = {string_literal(v)}" for k, v in properties.items())
        spark.sql(f"ALTER TABLE {sql_name(ref)} SET TBLPROPERTIES ({pairs})")


def add_columns(spark, ref: TableRef, columns: dict[str, str]) -> None:
    """``ALTER TABLE ... ADD COLUMNS`` with ``columns`` (name -> SQL type; names back-quoted): one commit, null in
    the rows already there; callers pass only what the table lacks, so a rerun commits nothing."""
    from fitlake.sqltext import identifier

    if columns:
        added = ", ".join(f"{identifier(name)} {sql_type}" for name, sql_type in columns.items())
        spark.sql(f"ALTER TABLE {sql_name(ref)} ADD COLUMNS ({added})")


_GLOB_CHARS = re.compile(r"([\\\[\]{}*?])")


def read_files(spark, schema, files: list[str]):
    """The rows of a Delta table's data ``files`` (``appended_files``) read as plain Parquet with ``schema`` (the
    table's); no files, no rows. Spark takes each path for a glob pattern, so a glob character in it (a lakehouse
    under a folder named with ``\\``, ``[``, ``{``, ``*`` or ``?``) is escaped: without, such a path matched
    nothing (PATH_NOT_FOUND); with globbing off instead, Hadoop read each such file's whole folder."""
    if not files:
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).parquet(*[_GLOB_CHARS.sub(r"\\\1", f) for f in files])


def read_stream(spark, ref: TableRef, **options):
    # skipChangeCommits: every streamed table here is append-only, except for the DELETEs of `fitlake forget`
    # (and OPTIMIZE, which streams skip anyway); a reader skips those commits instead of failing on them.
    reader = spark.readStream.format("delta").option("skipChangeCommits", "true").options(**options)
    return reader.load(ref.path) if ref.path is not None else reader.table(ref.full_name)


def rs_readable(ref: TableRef) -> bool:
    """Whether the independent Delta reader (delta-rs) can open ``ref``: a local table ``rs_can_open`` (no backslash in
    its path or in the folder it links to); otherwise read it with Spark."""
    return ref.path is not None and rs_can_open(ref.path)


def local_query(path: str | Path, sql: str) -> list[dict]:
    """``sql`` over the local Delta table at ``path`` (registered as ``t``), answered by the independent Delta reader
    (delta-rs + DataFusion, as the dashboard reads tables; deletion vectors and all): no Spark job. For the few rows
    of a summary or a check, on a local table only."""
    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder

    return pa.table(QueryBuilder().register("t", DeltaTable(str(path))).execute(sql).read_all()).to_pylist()


def may_hold(ref: TableRef, column: str, low, high) -> bool:
    """Whether ``ref`` may hold a row whose ``column`` lies in ``low .. high`` (Python values: int, date, or datetime
    in UTC), judged from its files' min/max statistics as the independent Delta reader (delta-rs) reads them from
    the log: no Spark job. False only when every file's range of ``column`` lies outside the bounds; True when it
    cannot tell (a catalog table, a path delta-rs cannot open, a file without statistics on ``column``)."""
    if not rs_readable(ref):
        return True
    import pyarrow as pa
    from deltalake import DeltaTable

    return any(_may_hold(pa.table(DeltaTable(str(ref.path)).get_add_actions(flatten=True)), column, low, high))


def files_may_hold(ref: TableRef, column: str, low, high) -> list[str] | None:
    """The data files of ``ref``'s current version that ``may_hold`` a row whose ``column`` lies in ``low .. high``,
    as absolute paths: reading just these files finds every such row. None when delta-rs cannot tell (a catalog
    table, a path it cannot open, a table whose files alone are not its rows: deletion vectors or column mapping,
    i.e. reader protocol 2 and above; a file named by an absolute URI)."""
    if not rs_readable(ref):
        return None
    import pyarrow as pa
    from deltalake import DeltaTable

    table = DeltaTable(str(ref.path))
    if table.protocol().min_reader_version > 1:
        return None
    files = pa.table(table.get_add_actions(flatten=True))
    paths = files.column("path").to_pylist()
    if any(p.startswith("/") or ":" in p.split("/", 1)[0] for p in paths):
        return None
    return [str(Path(ref.path) / unquote(p)) for p, keep in zip(paths, _may_hold(files, column, low, high)) if keep]


def _may_hold(files, column: str, low, high) -> list[bool]:
    """Per add action (``get_add_actions(flatten=True)``): whether its file may hold a row whose ``column`` lies in
    ``low .. high`` (no statistics on ``column``: it may; an empty file: it does not)."""
    if f"min.{column}" not in files.column_names or f"max.{column}" not in files.column_names:
        return [True] * files.num_rows
    if isinstance(low, datetime.datetime):  # Delta keeps timestamp statistics in milliseconds, truncated
        low, high = _utc(low) - _MS, _utc(high) + _MS
    out = []
    for n, lo, hi in zip(files.column("num_records").to_pylist(), files.column(f"min.{column}").to_pylist(),
                         files.column(f"max.{column}").to_pylist()):
        if n == 0:
            out.append(False)
        elif lo is None or hi is None:
            out.append(True)
        else:
            if isinstance(lo, datetime.datetime):
                lo, hi = _utc(lo), _utc(hi)
            out.append(lo <= high and hi >= low)
    return out


_MS = datetime.timedelta(milliseconds=1)


def _utc(t: datetime.datetime) -> datetime.datetime:
    """A naive datetime read as UTC, an aware one converted to it (both compare then)."""
    return t.replace(tzinfo=datetime.timezone.utc) if t.tzinfo is None else t.astimezone(datetime.timezone.utc)


def delta_table(spark, ref: TableRef):
    from delta.tables import DeltaTable

    if ref.path is not None:
        return DeltaTable.forPath(spark, ref.path)
    return DeltaTable.forName(spark, ref.full_name)


def table_version(spark, ref: TableRef) -> int | None:
    """Latest committed version, None when the table does not exist. A local table's is read from its log's file
    names (no Spark job: a no-op run asks Spark nothing); a catalog table's from its history."""
    if ref.path is not None:
        return latest_version(ref.path)
    if not exists(spark, ref):
        return None
    return int(delta_table(spark, ref).history(1).select("version").first()[0])


def write(df, ref: TableRef, mode: str = "append", partition_by: list[str] | None = None, **options) -> None:
    """Batch-write ``df`` to ``ref`` and register it locally."""
    writer = df.write.format("delta").mode(mode).options(**options)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if ref.path is not None:
        writer.save(ref.path)
        register_table(df.sparkSession, ref)
    else:
        writer.saveAsTable(ref.full_name)


def _builder_name(name: str) -> str:
    """Open-source Delta's table builder parses at most ``schema.table``; ``spark_catalog.schema.table`` is that same
    table of the session catalog (the stand-in workspace's catalog). Unity Catalog names pass unchanged."""
    prefix = "spark_catalog."
    return name[len(prefix):] if name.startswith(prefix) and name.count(".") == 2 else name


def ensure_table(spark, ref: TableRef, schema, partition_by: list[str] | None = None, properties: dict | None = None,
                 cluster_by: list[str] | tuple[str, ...] = ()):
    """Create an empty Delta table with ``schema`` if it does not exist yet (idempotent). Bronze, silver, streaming
    and scoring create their tables here (gold runs its DDL file), so a create killed midway is cleared once."""
    from delta.tables import DeltaTable

    if ref.path is not None:
        clear_failed_create(ref.path)
    if ref.path is not None and "`" in ref.path:  # the builder parses delta.`<path>` unescaped: SQL, quoted
        from fitlake.sqltext import create_table_sql

        spark.sql(create_table_sql(ref.path, schema, partition_by or (), cluster_by, properties))
        register_table(spark, ref)
        return DeltaTable.forPath(spark, ref.path)
    builder = DeltaTable.createIfNotExists(spark).addColumns(schema)
    builder = builder.location(ref.path) if ref.path is not None else builder.tableName(_builder_name(ref.full_name))
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    if cluster_by:
        builder = builder.clusterBy(*cluster_by)
    for k, v in (properties or {}).items():
        builder = builder.property(k, v)
    table = builder.execute()
    register_table(spark, ref)
    return table


def create_from(df, ref: TableRef, clause: str = "USING DELTA") -> int:
    """Create ``ref`` holding ``df``'s rows in ONE commit (``CREATE TABLE ... AS SELECT``), where ``ensure_table``
    and an append take two, each with its own snapshot and log write; every column nullable, field metadata (column
    comments) kept. ``clause``: what follows the name (``sqltext.table_clause``, or a DDL file's own ``USING DELTA
    CLUSTER BY (date)``). Returns the rows written. Callers create only a table that does not exist: a rerun after
    this commit finds the table and takes its usual (idempotent) update path."""
    from fitlake.sqltext import identifier

    if ref.path is not None:
        clear_failed_create(ref.path)
    session = df.sparkSession  # the view lives in the DataFrame's session (a worker thread may have its own)
    view = f"_fitlake_create_{uuid.uuid4().hex}"  # threads of one stage may share a session: a name of its own
    df.createOrReplaceTempView(view)
    try:
        session.sql(f"CREATE TABLE {sql_name(ref)} {clause} AS SELECT * FROM {identifier(view)}")
    finally:
        session.catalog.dropTempView(view)
    register_table(session, ref)
    if ref.path is not None:
        metrics = commit_metrics(session, ref, latest_version(ref.path))
    else:  # the newest commit is this CREATE: its metrics from ONE history read (not a version lookup, then another)
        metrics = delta_table(session, ref).history(1).select("operationMetrics").first()[0] or {}
    return int(metrics.get("numOutputRows", 0))


def commit_metrics(spark, ref: TableRef, version: int) -> dict:
    """``operationMetrics`` of one commit: for a local table straight from its log file (no Spark job)."""
    if ref.path is not None:
        import json

        log = Path(ref.path, "_delta_log", f"{version:020d}.json")
        for line in log.read_text(encoding="utf-8").splitlines():
            info = json.loads(line).get("commitInfo") if line.strip() else None
            if info is not None:
                return info.get("operationMetrics") or {}
        return {}
    from pyspark.sql import functions as F

    history = delta_table(spark, ref).history().where(F.col("version") == version)
    return history.select("operationMetrics").first()[0] or {}


def txn_app_id(marker: str | Path, prefix: str) -> str:
    """The ``txnAppId`` of a writer's idempotent writes, born with its checkpoint and kept in the file ``marker``
    inside it: a fresh checkpoint (batch ids from 0 again) gets a fresh id, so its writes are not mistaken for
    replays of the old one's. Written atomically; an existing id is never replaced."""
    marker = Path(marker)
    existing = marker.read_text(encoding="utf-8").strip() if marker.is_file() else ""
    if existing:
        return existing
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}")
    tmp.write_text(f"{prefix}-{uuid.uuid4()}\n", encoding="utf-8")
    tmp.replace(marker)
    return marker.read_text(encoding="utf-8").strip()


@contextmanager
def txn_guard(spark, app_id: str | None, version: int | None) -> Iterator[None]:
    """Delta's idempotent-write guard for a MERGE (session confs): a (txnAppId, txnVersion) Delta already committed
    to the table is skipped. Appends pass the same pair as write options (``txn_options``)."""
    if app_id is None or version is None:
        yield
        return
    spark.conf.set("spark.databricks.delta.write.txnAppId", app_id)
    spark.conf.set("spark.databricks.delta.write.txnVersion", str(version))
    try:
        yield
    finally:
        spark.conf.unset("spark.databricks.delta.write.txnAppId")
        spark.conf.unset("spark.databricks.delta.write.txnVersion")


def txn_options(app_id: str | None, version: int | None) -> dict[str, str]:
    """The same guard as ``txn_guard`` for a DataFrame write: Delta skips an (app id, version) it committed."""
    return {"txnAppId": app_id, "txnVersion": str(version)} if app_id is not None and version is not None else {}


def append_once(df, ref: TableRef, app_id: str, version: int, **options) -> None:
    """Idempotent append without registering the table (the hot path of bronze batches and stream micro-batches:
    their tables are created and registered once per run): Delta skips an (app_id, version) it has committed.
    ``app_id`` None: a plain append (the caller guards against a replay itself)."""
    writer = df.write.format("delta").mode("append").options(**txn_options(app_id, version), **options)
    writer.save(ref.path) if ref.path is not None else writer.saveAsTable(ref.full_name)
