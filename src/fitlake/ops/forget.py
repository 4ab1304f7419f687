"""``fitlake forget --user ID``: erase one person from every table of every layer (GDPR Art. 17).

The steps, each idempotent, so a rerun after a kill -9 anywhere finishes the request and duplicates nothing:

1. The request goes to ``ops.erasure_log`` first (event ``requested``): a salted sha256 of the id, the time — never
   the id itself. The salt is a per-lakehouse secret file (see ``fitlake.ops.suppress``).
2. The same hash goes to ``ops.suppressed_users``; bronze ingestion and silver consult that list
   (``suppression(spark, settings)``), so a re-delivered file does not bring the person back.
3. Silver and gold are brought up to date (``run_silver``, ``run_gold``: no-ops when they are): after step 5 no
   downstream reader may still need a file that the erasure rewrites.
4. ``DELETE`` of the person's rows from every table in ``config.TABLES`` that has a user column (``user_id`` or the
   Fitbit export's ``Id``; in bronze and quarantine also rows whose ``_corrupt_record`` / ``_rescued_data`` text
   holds the id). A table without the person's rows gets no commit. Gold's change tracking (``ops.gold_state``)
   is moved past the silver deletes, since gold's rows of the person were deleted in the same step.
5. Every file of every table with a user column that the current version does not use is deleted (retention 0):
   the person's old rows live on in the files of older versions (and in Change Data Feed files) until they are.
   This ends time travel on those tables at the erasure, by design. Locally the table folder is listed and each
   data or Change Data Feed file the current version's log does not name is deleted with its ``.crc`` sidecar
   (``purge_unreferenced``: what ``VACUUM ... RETAIN 0 HOURS`` deletes, without its Spark jobs and its two log
   commits; a listing, so also a file a writer killed before its commit left behind); a table with deletion
   vectors, or off the local file system, gets ``VACUUM ... RETAIN 0 HOURS`` with
   ``spark.databricks.delta.retentionDurationCheck.enabled = false`` set only for that statement (``vacuum_now``).
6. ``ops.erasure_log`` event ``completed`` with the number of rows deleted per table (no personal data).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass, field

from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.config import TABLES, ConfigError, Settings, TableRef
from fitlake.faults import fault_point
from fitlake.frames import local_frame
from fitlake.ops.suppress import SUPPRESSED, ensure_salt, user_hash
from fitlake.options import add_common_arguments, settings_from_args

ID_COLUMNS = ("user_id", "Id")
TEXT_COLUMNS = ("_corrupt_record", "_rescued_data")
ERASURE_LOG_SCHEMA = ("request_hash STRING, event STRING, rows_deleted BIGINT, tables_with_rows INT, "
                      "rows_per_table STRING, files_vacuumed BIGINT")


@dataclass
class ForgetReport:
    request_hash: str
    already_completed: bool = False
    rows_deleted: dict[str, int] = field(default_factory=dict)
    files_vacuumed: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.rows_deleted.values())


def parse_user_id(text: str) -> int:
    if not re.fullmatch(r"\s*\d{1,19}\s*", str(text)):
        raise ConfigError(f"--user must be a numeric user id, not {text!r}")
    return int(text)


def person_sql(columns: list[str], user_id: int) -> str | None:
    """The SQL condition that selects the person's rows in a table with ``columns``; None without a user column."""
    ident = str(int(user_id))
    conds = [f"trim(cast(`{c}` AS STRING)) = '{ident}'" for c in ID_COLUMNS if c in columns]
    if not conds:
        return None
    conds += [f"coalesce(`{c}` RLIKE '(^|[^0-9]){ident}([^0-9]|$)', false)" for c in TEXT_COLUMNS if c in columns]
    return " OR ".join(conds)


def table_columns(spark, ref: TableRef) -> list[str]:
    if delta_io.rs_readable(ref):  # from the log, without Spark
        from deltalake import DeltaTable

        return [f.name for f in DeltaTable(ref.path).schema().fields]
    return delta_io.read(spark, ref).columns


def personal_tables(spark, settings: Settings) -> list[TableRef]:
    """Every existing table (all layers) that has a user column."""
    refs = []
    for layer, names in TABLES.items():
        for name in names:
            ref = settings.table(layer, name)
            if delta_io.exists(spark, ref) and any(c in table_columns(spark, ref) for c in ID_COLUMNS):
                refs.append(ref)
    return refs


def _holds_person_locally(spark, ref: TableRef, columns: list[str], user_id: int) -> bool:
    """Whether the current version of a local table has any row of the person: pyarrow over delta-rs (no Spark), or,
    on a path delta-rs cannot open (``delta_io.rs_readable``), a Spark count with ``person_sql``'s condition."""
    import pyarrow.compute as pc

    if not delta_io.rs_readable(ref):
        return delta_io.read(spark, ref).where(person_sql(columns, user_id)).limit(1).count() > 0
    from deltalake import DeltaTable

    ident = str(int(user_id))
    wanted = [c for c in (*ID_COLUMNS, *TEXT_COLUMNS) if c in columns]
    data = DeltaTable(ref.path).to_pyarrow_table(columns=wanted)
    for c in wanted:
        text = pc.cast(data.column(c), "string")
        hit = (pc.equal(pc.utf8_trim_whitespace(text), ident) if c in ID_COLUMNS
               else pc.match_substring_regex(text, f"(^|[^0-9]){ident}([^0-9]|$)"))
        if pc.any(hit).as_py():
            return True
    return False


def delete_person(spark, ref: TableRef, user_id: int) -> int:
    """Delete the person's rows from ``ref``; their count. No rows, no commit (a rerun commits nothing)."""
    columns = table_columns(spark, ref)
    cond = person_sql(columns, user_id)
    if cond is None:
        return 0
    if ref.path is not None and not _holds_person_locally(spark, ref, columns, user_id):
        return 0
    row = spark.sql(f"DELETE FROM {delta_io.sql_name(ref)} WHERE {cond}").first()
    return int((row.asDict() if row is not None else {}).get("num_affected_rows") or 0)


def purge_unreferenced(spark, ref: TableRef) -> int | None:
    """Local tables: delete every data and Change Data Feed file the current version does not use (retention 0) and
    its ``.crc`` sidecar; the number of files deleted. None when this cannot be decided from the data files alone
    (the table has deletion vectors, whose ``.bin`` files the current version also uses, or an add action names a
    file outside the table folder): ``vacuum_now`` then runs Delta's own VACUUM.

    What ``VACUUM ... RETAIN 0 HOURS`` deletes, found the way its full (non-LITE) mode finds it, by listing the
    folder against the current version's files: so also a file the log never named (a writer killed before its
    commit). The current version is read from the log after the erasure's last commit on this table (delta-rs; on
    a path delta-rs cannot open, Spark: DESCRIBE DETAIL's table features and ``maintain.live_files``); a
    rerun after a kill -9 anywhere in here lists again and deletes what is left; a rerun with nothing left deletes
    nothing and, unlike VACUUM, commits nothing either way. Runs under the run lock, like every `fitlake forget`
    step, so no writer of this lakehouse is between writing a file and committing it."""
    from fitlake.ops.maintain import detail, live_files, unreferenced_paths

    if delta_io.rs_readable(ref):
        from deltalake import DeltaTable

        features = DeltaTable(ref.path).protocol().reader_features or []
    else:
        features = detail(spark, ref).get("tableFeatures") or []
    if "deletionVectors" in features:
        return None
    live = live_files(spark, ref)
    if any(p.startswith("/") or ":" in p.split("/", 1)[0] for p in live):  # absolute (e.g. a shallow clone's)
        return None
    doomed = unreferenced_paths(ref, live, retain_hours=None)  # retention 0, whatever a file's mtime says
    for f in doomed:
        f.unlink(missing_ok=True)
        f.with_name(f".{f.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum sidecar
    return len(doomed)


def vacuum_now(spark, ref: TableRef) -> int:
    """Retention 0: delete every file the current version does not use (old versions, CDF files); their number.

    Locally ``purge_unreferenced`` (no Spark job, no commit); on Unity Catalog or for a table with deletion vectors
    ``VACUUM ... RETAIN 0 HOURS`` (nothing to delete: no VACUUM, no commit; ``maintain.vacuum``)."""
    from fitlake.ops.maintain import vacuum

    if ref.path is not None:
        deleted = purge_unreferenced(spark, ref)
        if deleted is not None:
            return deleted
    key = "spark.databricks.delta.retentionDurationCheck.enabled"
    previous = spark.conf.get(key, "true")
    spark.conf.set(key, "false")  # only for this explicit erasure; `fitlake maintain` never goes below 7 days
    try:
        return vacuum(spark, ref, 0)
    finally:
        spark.conf.set(key, previous)


def _log_events(spark, settings: Settings, request_hash: str) -> set[str]:
    ref = settings.table("ops", "erasure_log")
    if not delta_io.exists(spark, ref):
        return set()
    rows = delta_io.read(spark, ref).where(F.col("request_hash") == request_hash).select("event").collect()
    return {r[0] for r in rows}


def _log(spark, settings: Settings, request_hash: str, event: str, report: ForgetReport | None = None) -> None:
    row = {"request_hash": request_hash, "event": event, "rows_deleted": None, "tables_with_rows": None,
           "rows_per_table": None, "files_vacuumed": None}
    if report is not None:
        row.update(rows_deleted=report.total, tables_with_rows=sum(1 for n in report.rows_deleted.values() if n),
                   rows_per_table=json.dumps({k: v for k, v in report.rows_deleted.items() if v}, sort_keys=True),
                   files_vacuumed=report.files_vacuumed)
    df = local_frame(spark, [row], ERASURE_LOG_SCHEMA).withColumn("logged_at", F.current_timestamp())
    delta_io.write(df, settings.table("ops", "erasure_log"), mode="append")


def _suppress(spark, settings: Settings, request_hash: str) -> None:
    ref = settings.table(*SUPPRESSED)
    if delta_io.exists(spark, ref) and delta_io.read(spark, ref).where(F.col("user_hash") == request_hash).count():
        return
    df = local_frame(spark, [(request_hash,)], "user_hash STRING").withColumn("added_at", F.current_timestamp())
    delta_io.write(df, ref, mode="append")


def _catch_up(spark, settings: Settings, say) -> None:
    from fitlake.gold.job import run_gold
    from fitlake.silver.job import run_silver

    if any(c.batches for c in run_silver(spark, settings)):
        say("  silver brought up to date with bronze before the erasure")
    if run_gold(spark, settings):
        say("  gold brought up to date with silver before the erasure")


def _advance_gold_state(spark, settings: Settings, before: dict[str, int | None]) -> None:
    """Gold has read silver up to ``before``; the silver commits since are this erasure's deletes, whose gold rows
    the erasure deleted itself: move gold's change tracking past them (never past a change gold has not seen)."""
    from fitlake.gold.job import read_state, write_state
    from fitlake.silver.merge import table_version

    state = read_state(spark, settings)
    moved = dict(state)
    for source, version in state.items():
        if before.get(source) == version:
            moved[source] = table_version(spark, settings.table("silver", source))
    if moved != state:
        write_state(spark, settings, moved)


def forget(spark, settings: Settings, user_id: int, say=print, vacuum: bool = True) -> ForgetReport:
    started = time.monotonic()
    from fitlake.silver.merge import table_version

    request_hash = user_hash(ensure_salt(settings), user_id)
    report = ForgetReport(request_hash)
    events = _log_events(spark, settings, request_hash)
    report.already_completed = "completed" in events
    if "requested" not in events:
        _log(spark, settings, request_hash, "requested")
    fault_point("forget:requested")
    _suppress(spark, settings, request_hash)
    fault_point("forget:suppressed")
    _catch_up(spark, settings, say)
    silver_before = {name: table_version(spark, settings.table("silver", name)) for name in TABLES["silver"]}
    refs = personal_tables(spark, settings)
    for ref in refs:
        n = delete_person(spark, ref, user_id)
        report.rows_deleted[ref.full_name] = n
        if n:
            say(f"  {ref.full_name:<40} {n:>8} rows deleted")
        fault_point(f"forget:delete:{ref.full_name}")
    _advance_gold_state(spark, settings, silver_before)
    if vacuum:
        before_vacuum = {name: table_version(spark, settings.table("silver", name)) for name in TABLES["silver"]}
        for ref in refs:
            report.files_vacuumed += vacuum_now(spark, ref)
            fault_point(f"forget:vacuum:{ref.full_name}")
        # a VACUUM (Unity Catalog, deletion vectors) logs its own commits (no data change): gold need not read them,
        # and a rerun must find nothing new
        _advance_gold_state(spark, settings, before_vacuum)
    if not report.already_completed:
        _log(spark, settings, request_hash, "completed", report)
    report.seconds = time.monotonic() - started
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--user", required=True, help="the user id to erase (numeric, as in user_id / Id)")
    parser.add_argument("--lock-timeout", type=float, default=0.0,
                        help="seconds to wait for a running `fitlake run` on the same lakehouse (default 0)")


def main(args) -> int:
    from fitlake.pipeline import PipelineError, run_lock
    from fitlake.spark import get_spark

    settings = settings_from_args(args)
    user_id = parse_user_id(args.user)
    say = lambda line: print(line, flush=True)  # noqa: E731
    try:
        with run_lock(settings.root, args.lock_timeout):
            spark = get_spark(settings, app_name="fitlake-forget")
            say(f"fitlake forget: lakehouse {settings.root}, target {settings.target}")
            report = forget(spark, settings, user_id, say)
    except PipelineError as e:
        raise ConfigError(str(e)) from e
    say("")
    say(f"fitlake forget summary: request {report.request_hash[:12]}… "
        f"{'(already completed before; rerun found nothing left) ' if report.already_completed else ''}"
        f"{report.total} rows deleted from {sum(1 for n in report.rows_deleted.values() if n)} tables, "
        f"{report.files_vacuumed} old files vacuumed (retention 0 h), id added to ops.suppressed_users "
        f"[{report.seconds:.1f} s]")
    return 0
