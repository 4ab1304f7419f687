"""``fitlake maintain``: keep every Delta table healthy — compact (and cluster) small files, VACUUM old ones, bound
the transaction log, and clear what killed stream writers left in checkpoint folders.

Per table, in ``config.TABLES`` order (a table that does not exist yet is skipped):

1. Retention properties, set once (only when they differ, so a rerun commits nothing):
   ``delta.deletedFileRetentionDuration = interval 7 days`` (VACUUM's and time travel's window),
   ``delta.logRetentionDuration = interval 30 days`` (log entries older than that are removed whenever Delta
   writes a checkpoint) and ``delta.checkpointInterval = 10`` (a checkpoint every 10 commits, so readers replay
   at most 10 JSON commits and log clean-up runs regularly).
2. ``OPTIMIZE``: bin-packing; liquid-clustered tables (silver and gold declare ``cluster_by``) are clustered by
   their clustering columns; a table that is not liquid-clustered but whose silver spec declares ``cluster_by``
   gets ``ZORDER BY`` those columns. Skipped for a table with fewer than two files (nothing to compact).
3. ``VACUUM ... RETAIN 168 HOURS``: 7 days, Delta's default and never less. Why that number: silver reading
   bronze's change feed, or a stream restarted from its checkpoint (the event windows reading silver.events), re-reads
   the files of the versions it has not processed; OPTIMIZE removes exactly those small files from the current version, so VACUUM
   must keep them for longer than a stream may stay stopped — 7 days covers a week-end outage with margin — and
   time travel (``VERSION AS OF``) stays possible for the same 7 days. Skipped when nothing is expired (a rerun
   commits nothing): locally found by listing the folder (``unreferenced_paths``), on Unity Catalog by a DRY RUN.
4. Checkpoint folders: temp files (``.*.tmp``) older than an hour that a killed writer left in a stream's
   checkpoint are removed. Offsets/commits of finished batches are bounded by Spark itself
   (``spark.sql.streaming.minBatchesToRetain``, 100).

Every table's current rows are unchanged (OPTIMIZE rewrites with ``dataChange = false``; VACUUM only deletes files
no longer in the current version). One row per table goes to ``ops.maintenance_log``.
"""

from __future__ import annotations

import argparse
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from fitlake import delta_io
from fitlake.config import TABLES, Settings, TableRef
from fitlake.options import add_common_arguments, settings_from_args

VACUUM_RETAIN_HOURS = 168
PROPERTIES = {
    "delta.deletedFileRetentionDuration": "interval 7 days",
    "delta.logRetentionDuration": "interval 30 days",
    "delta.checkpointInterval": "10",
}
TMP_MAX_AGE_S = 3600.0


@dataclass
class TableMaintenance:
    table: str
    files_before: int
    files_after: int
    bytes_before: int
    bytes_after: int
    optimized: bool
    layout: str  # "clustered by a, b" | "zorder by a" | "" (bin-packing only)
    files_vacuumed: int
    properties_set: int
    seconds: float


def detail(spark, ref: TableRef) -> dict:
    return delta_io.delta_table(spark, ref).detail().first().asDict()


def file_state(spark, ref: TableRef) -> dict:
    """numFiles, sizeInBytes and properties of the current version: locally from the log without Spark (delta-rs),
    on Unity Catalog or a path delta-rs cannot open (``delta_io.rs_readable``) from DESCRIBE DETAIL."""
    if not delta_io.rs_readable(ref):
        return detail(spark, ref)
    from deltalake import DeltaTable

    dt = DeltaTable(ref.path)
    sizes = dt.get_add_actions(flatten=True).column("size_bytes").to_pylist()
    return {"numFiles": len(sizes), "sizeInBytes": sum(sizes), "properties": dict(dt.metadata().configuration)}


def declared_zorder(ref: TableRef) -> tuple[str, ...]:
    if ref.layer != "silver":
        return ()
    from fitlake.silver.specs import SPECS

    spec = SPECS.get(ref.name)
    return spec.cluster_by if spec else ()


def set_properties(spark, ref: TableRef, current: dict) -> int:
    missing = {k: v for k, v in PROPERTIES.items() if (current or {}).get(k) != v}
    delta_io.set_properties(spark, ref, missing)
    return len(missing)


def optimize(spark, ref: TableRef, state: dict) -> tuple[bool, str, int]:
    """OPTIMIZE ``ref`` when it has two files or more; (optimized, layout, files after)."""
    files = int(state.get("numFiles") or 0)
    if files < 2:
        return False, "", files
    info = detail(spark, ref)
    clustering = list(info.get("clusteringColumns") or [])
    if clustering:
        layout = "clustered by " + ", ".join(clustering)
    elif declared_zorder(ref) and not info.get("partitionColumns"):
        layout = "zorder by " + ", ".join(declared_zorder(ref))
    else:
        layout = ""
    statement = f"OPTIMIZE {delta_io.sql_name(ref)}"
    if layout.startswith("zorder"):
        statement += f" ZORDER BY ({', '.join(declared_zorder(ref))})"
    metrics = spark.sql(statement).first()["metrics"]
    removed, added = int(metrics["numFilesRemoved"] or 0), int(metrics["numFilesAdded"] or 0)
    return removed > 0, layout, files - removed + added  # e.g. one file per partition: nothing to compact


def live_files(spark, ref: TableRef) -> set[str]:
    """The data files a local table's current version uses, as paths relative to its folder, spelled as on disk
    (the log's %-encoded paths decoded once: a partition folder Spark named ``d=08%3A00`` stays so); a file outside
    the folder (a shallow clone's) as its absolute path or URI. Read from the log by delta-rs, or, on a path delta-rs
    cannot open (``delta_io.rs_readable``), by Spark (the snapshot's ``inputFiles``: Hadoop paths, not encoded)."""
    import os
    from urllib.parse import unquote

    if delta_io.rs_readable(ref):
        from deltalake import DeltaTable

        return {unquote(p) for p in DeltaTable(ref.path).get_add_actions(flatten=True).column("path").to_pylist()}
    root = os.path.normpath(ref.path)
    out = set()
    for uri in delta_io.read(spark, ref).inputFiles():
        local = uri[len("file:"):] if uri.startswith("file:/") else None
        if local is not None and local.startswith("//"):  # file:///x -> /x
            local = local[2:]
        local = os.path.normpath(local) if local is not None else None
        inside = local is not None and local.startswith(root + os.sep)
        out.add(local[len(root) + 1:].replace(os.sep, "/") if inside else uri)
    return out


def unreferenced_paths(ref: TableRef, live: set[str], retain_hours: float | None) -> list[Path]:
    """Local tables: the data files (incl. Change Data Feed files) under ``ref``'s folder that are not in ``live``
    (``live_files``) and, unless ``retain_hours`` is None, expired as VACUUM sees it — what VACUUM would delete: the
    file is older than the retention and, if a commit removed it, that removal is too (a file OPTIMIZE replaced
    today is kept 7 days from today, however old the file)."""
    from urllib.parse import unquote

    from fitlake.delta_log import removed_since

    root = Path(ref.path)
    cutoff = None if retain_hours is None else time.time() - retain_hours * 3600
    kept = set() if cutoff is None else {unquote(p) for p in removed_since(ref.path, int(cutoff * 1000))}
    out = []
    for f in root.rglob("*"):
        rel = f.relative_to(root).as_posix()
        if rel.startswith("_delta_log") or not f.is_file() or f.name.startswith((".", "_")):
            continue
        if rel not in live and (cutoff is None or (f.stat().st_mtime <= cutoff and rel not in kept)):
            out.append(f)
    return out


def unreferenced_files(spark, ref: TableRef, retain_hours: float) -> int:
    """Local tables: how many files VACUUM with this retention would delete (``unreferenced_paths``), listed
    against ``live_files`` (without Spark where delta-rs can read the log)."""
    return len(unreferenced_paths(ref, live_files(spark, ref), retain_hours))


def vacuum(spark, ref: TableRef, retain_hours: float = VACUUM_RETAIN_HOURS) -> int:
    """VACUUM ``ref``; the number of files deleted. No VACUUM (and no log entry) when there is nothing to delete:
    locally that is known from the file listing, on Unity Catalog from a DRY RUN."""
    if ref.path is not None:
        doomed = unreferenced_files(spark, ref, retain_hours)
    else:
        doomed = spark.sql(f"VACUUM {delta_io.sql_name(ref)} RETAIN {retain_hours:g} HOURS DRY RUN").count()
    if doomed:
        spark.sql(f"VACUUM {delta_io.sql_name(ref)} RETAIN {retain_hours:g} HOURS")
    return doomed


def clean_checkpoint_tmp(settings: Settings, max_age_s: float = TMP_MAX_AGE_S) -> int:
    """Remove temp files a killed stream writer left in ``_checkpoints`` (local lakehouse only)."""
    if not settings.is_local:
        return 0
    root = Path(settings.checkpoint("x", "y")).parent.parent
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for p in root.rglob(".*.tmp"):
        if p.is_file() and p.stat().st_mtime < cutoff:
            p.unlink(missing_ok=True)
            removed += 1
    return removed


def maintain_table(spark, ref: TableRef, retain_hours: float = VACUUM_RETAIN_HOURS) -> TableMaintenance:
    started = time.monotonic()
    before = file_state(spark, ref)
    props = set_properties(spark, ref, before.get("properties"))
    optimized, layout, files_after = optimize(spark, ref, before)
    vacuumed = vacuum(spark, ref, retain_hours)
    size_after = file_state(spark, ref)["sizeInBytes"] if optimized else before["sizeInBytes"]
    return TableMaintenance(ref.full_name, int(before["numFiles"] or 0), files_after,
                            int(before["sizeInBytes"] or 0), int(size_after or 0), optimized, layout,
                            vacuumed, props, round(time.monotonic() - started, 3))


def existing_tables(spark, settings: Settings) -> list[TableRef]:
    return [settings.table(layer, name) for layer, names in TABLES.items() for name in names
            if delta_io.exists(spark, settings.table(layer, name))]


def maintain(spark, settings: Settings, retain_hours: float = VACUUM_RETAIN_HOURS, say=print) -> tuple[list[TableMaintenance], int]:
    """Maintain every existing table; return the per-table results and the checkpoint temp files removed."""
    if retain_hours < VACUUM_RETAIN_HOURS:
        raise ValueError(f"VACUUM retention below {VACUUM_RETAIN_HOURS} hours would break restarted streams and "
                         "time travel; only `fitlake forget` vacuums with 0")
    results = []
    for ref in existing_tables(spark, settings):
        r = maintain_table(spark, ref, retain_hours)
        say(describe(r))
        results.append(r)
    return results, clean_checkpoint_tmp(settings)


def describe(r: TableMaintenance) -> str:
    return (f"  {r.table:<40} files {r.files_before:>5} -> {r.files_after:<5} "
            f"{'optimized' if r.optimized else 'compact':<10} vacuumed {r.files_vacuumed:<5} {r.layout}"
            f" [{r.seconds:.1f} s]")


MAINTENANCE_LOG_SCHEMA = (
    "run_id STRING, table_name STRING, files_before BIGINT, files_after BIGINT, bytes_before BIGINT, "
    "bytes_after BIGINT, optimized BOOLEAN, layout STRING, files_vacuumed BIGINT, properties_set INT, "
    "seconds DOUBLE, retain_hours DOUBLE"
)


def append_log(spark, settings: Settings, run_id: str, results: list[TableMaintenance], retain_hours: float) -> None:
    from pyspark.sql import functions as F

    from fitlake.frames import local_frame

    rows = [{**{k: v for k, v in asdict(r).items() if k != "table"}, "table_name": r.table, "run_id": run_id,
             "retain_hours": float(retain_hours)} for r in results]
    df = local_frame(spark, rows, MAINTENANCE_LOG_SCHEMA)
    # one file per run (the rows are a few dozen): the log does not itself become a small-files table to compact
    delta_io.write(df.coalesce(1).withColumn("logged_at", F.current_timestamp()),
                   settings.table("ops", "maintenance_log"), mode="append")


def summary_lines(results: list[TableMaintenance], tmp_removed: int) -> list[str]:
    files_before = sum(r.files_before for r in results)
    files_after = sum(r.files_after for r in results)
    return [
        "",
        f"fitlake maintain summary: {len(results)} tables, files {files_before} -> {files_after}, "
        f"{sum(r.optimized for r in results)} optimized, {sum(r.files_vacuumed for r in results)} old files vacuumed "
        f"(retention {VACUUM_RETAIN_HOURS} h), {sum(r.properties_set > 0 for r in results)} tables got retention "
        f"properties, {tmp_removed} checkpoint temp files removed",
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--retain-hours", type=float, default=VACUUM_RETAIN_HOURS,
                        help=f"VACUUM retention in hours (default and minimum {VACUUM_RETAIN_HOURS})")
    parser.add_argument("--lock-timeout", type=float, default=0.0,
                        help="seconds to wait for a running `fitlake run` on the same lakehouse (default 0)")


def main(args) -> int:
    from fitlake.config import ConfigError
    from fitlake.pipeline import PipelineError, run_lock
    from fitlake.spark import get_spark

    settings = settings_from_args(args)
    if args.retain_hours < VACUUM_RETAIN_HOURS:
        raise ConfigError(f"--retain-hours must be at least {VACUUM_RETAIN_HOURS}: a shorter retention deletes "
                              "files that a restarted stream or time travel still reads")
    say = lambda line: print(line, flush=True)  # noqa: E731
    try:
        with run_lock(settings.root, args.lock_timeout):
            spark = get_spark(settings, app_name="fitlake-maintain")
            say(f"fitlake maintain: lakehouse {settings.root}, target {settings.target}")
            run_id = uuid.uuid4().hex[:12]
            results, tmp_removed = maintain(spark, settings, args.retain_hours, say)
            append_log(spark, settings, run_id, results, args.retain_hours)
    except PipelineError as e:
        raise ConfigError(str(e)) from e
    for line in summary_lines(results, tmp_removed):
        say(line)
    return 0
