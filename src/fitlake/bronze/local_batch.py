"""Local bronze ingestion as planned batches: our listing, one Spark read per batch, exactly-once appends.

Per source, the state lives in ``<checkpoint>/_fitlake/`` (next to the old stream checkpoint, reset with it):

* ``txn_app_id``: the id of this source's idempotent Delta appends (kept from the stream era).
* ``ingested.json``: every landing file ingested so far, by landing-relative path -> size, SHA-256, batch.
* ``plan.json``: the batch being ingested: its number and exact files (path, size, hash) and its ``_ingested_at``.

A run: redo a leftover plan (a crash mid-batch) -> list the landing (``landing_scan``) -> the files whose
(path, size, hash) is not in ``ingested.json`` are new -> write the plan atomically -> read exactly those files ->
append (each row carries the plan's batch number and ``_ingested_at``) -> evolve the schema from rescued keys ->
record the files as ingested -> remove the plan. A kill -9 anywhere is redone from the plan: a plan whose rows are
in the table was committed and is not written again (its counts are then measured from those rows), so nothing is
written twice; a plan of older code is redone with Delta's ``txnAppId``/``txnVersion`` guard it was written with.
"Nothing new" is decided from the listing and ``ingested.json`` alone: no Spark job.

**Changed files.** A path whose content hash differs from what was ingested under it (a file rewritten in place,
e.g. with new rows) is a new delivery: the whole file is read again with the new run's ``_ingested_at``. Silver
orders deliveries by ``_ingested_at`` then ``_source_file``, so the newest content of a path wins and rows it
repeats are duplicates; an older delivery can never be re-ingested *under an older timestamp*, so a rewrite never
reverts a later correction of the same path.

**Lakehouses from the stream-based code** keep working: their file stream log (``sources/0``) lists every file
the old stream read, with its batch. Files of committed batches are adopted as ingested (hashed as they are now);
a batch the old stream planned but did not commit becomes a plan with the same number, so Delta's idempotence
still decides whether it was written; new batches continue after the old numbers (same ``txnAppId``).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
import uuid
from pathlib import Path

from pyspark.sql import Observation
from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.bronze import landing_scan, plain_csv
from fitlake.bronze import schema as schemas
from fitlake.bronze import state as bronze_state
from fitlake.bronze import writer
from fitlake.bronze.formats import DATE_FORMAT
from fitlake.bronze.parse import BATCH_ID, INGESTED_AT, LINE, SOURCE_FILE, SOURCE_MODIFIED, parse_landing_files
from fitlake.bronze.sources import BronzeSource
from fitlake.config import Settings
from fitlake.faults import fault_point
from fitlake.ops.suppress import suppression
from fitlake.spark import register_table, session_conf

STATE_DIR = "_fitlake"
INGESTED = "ingested.json"
PLAN = "plan.json"
# A plan's write carries no Delta txnVersion (Delta's check reads the table's transactions, which builds its whole
# state: a Spark job per source and run, the largest job of a new day's bronze write); a redone plan is found
# committed or not by its own rows instead (``_stats_from_table``: its batch and `_ingested_at`). Plans without
# this mark (older code, the stream-era migration) were written with the txnVersion and are redone with it.
ROWS_GUARD = "rows"
# Around a batch's write: no adaptive execution. The write itself has no shuffle (nothing for AQE to adapt); where
# Delta checks a txnVersion (a redone plan of older code) it builds the table's state (a Spark query with a
# shuffle): under AQE 3 Spark jobs, planned up front 1.
WRITE_CONF = {"spark.sql.adaptive.enabled": "false"}


# ---- state ---------------------------------------------------------------------------------------------------------


class State:
    def __init__(self, checkpoint: str, landing_dir: Path):
        self.folder = Path(checkpoint, STATE_DIR)
        self.checkpoint = checkpoint
        self.landing_dir = Path(landing_dir)

    def _read(self, name: str):
        path = self.folder / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def _write(self, name: str, value) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(value, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / name)

    def ingested(self) -> dict:
        got = self._read(INGESTED)
        if got is None:
            got = migrate_stream_checkpoint(self)
        return got

    def save_ingested(self, value: dict) -> None:
        self._write(INGESTED, value)

    def plan(self) -> dict | None:
        return self._read(PLAN)

    def save_plan(self, plan: dict) -> None:
        self._write(PLAN, plan)

    def drop_plan(self) -> None:
        (self.folder / PLAN).unlink(missing_ok=True)

    def app_id(self) -> str:
        return bronze_state.txn_app_id(self.checkpoint)


def migrate_stream_checkpoint(state: State) -> dict:
    """``ingested.json`` for a checkpoint written by the stream-based code (or an empty one for a new source)."""
    out = {"files": {}, "last_batch": -1}
    checkpoint = Path(state.checkpoint)
    log = checkpoint / "sources" / "0"
    committed = bronze_state.batch_ids(checkpoint / "commits")
    planned = bronze_state.batch_ids(checkpoint / "offsets")
    if not log.is_dir():
        return out
    entries: dict[str, int] = {}
    for f in sorted(log.iterdir(), key=lambda p: p.name):
        if not f.name.split(".")[0].isdigit():
            continue
        for line in f.read_text(encoding="utf-8").splitlines()[1:]:
            try:
                rec = json.loads(line)
                entries[rec["path"]] = int(rec["batchId"])
            except (ValueError, KeyError):
                continue
    last_committed = max(committed, default=-1)
    pending: list[dict] = []
    for uri, batch in entries.items():
        path = urllib.parse.unquote(urllib.parse.urlparse(uri).path)
        rec = _landed_record(path)
        if rec is None:
            continue
        try:
            rel = Path(path).relative_to(state.landing_dir).as_posix()
        except ValueError:
            continue  # not under this landing (moved since): its files are read again as new deliveries
        if batch <= last_committed:
            out["files"][rel] = {**rec, "batch": batch}
        else:
            pending.append({"rel": rel, "path": path, **rec})
    out["last_batch"] = max([last_committed, *planned])
    if pending and max(planned, default=-1) > last_committed:
        state.save_plan({"batch": max(planned), "ingested_at_us": time.time_ns() // 1000, "files": pending})
    state.save_ingested(out)
    return out


def _landed_record(path: str) -> dict | None:
    try:
        st = os.stat(path)
        digest = landing_scan.file_sha256(path, follow=True)
    except OSError:
        return None
    return {"size": st.st_size, "sha256": digest, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


# ---- the run -------------------------------------------------------------------------------------------------------


def ingest_local(spark, settings: Settings, source: BronzeSource, max_files: int | None = None) -> dict:
    started = time.monotonic()
    ref = settings.table("bronze", source.name)
    state = State(settings.checkpoint("bronze", source.name), settings.landing_dir)
    ingested = state.ingested()
    location = settings.schema_location(source.name)
    totals = {"files": 0, "rows": 0, "corrupt_rows": 0, "rescued_rows": 0}
    new_columns: list[str] = []
    batches: list[int] = []
    formats: set[tuple[str, str | None]] = set()
    skipped: list[landing_scan.Skipped] = []
    schema = schemas.load_schema(location)

    plan = state.plan()
    if plan is not None:  # a crash mid-batch: redo exactly that batch
        schema, stats = _run_plan(spark, settings, source, state, ingested, plan, schema, skipped, redo=True)
        _add(totals, stats, new_columns, batches, plan, formats)

    failed = ingested.setdefault("failed", {})
    scan = _scan(settings, source, state, ingested)
    skipped.extend(scan.skipped)
    for f in scan.files:
        if f.rel in failed and not _is_new(f, failed):
            skipped.append(landing_scan.Skipped(f.rel, "unreadable", failed[f.rel]["detail"]))
    new = [f for f in scan.files if _is_new(f, ingested["files"]) and (f.rel not in failed or _is_new(f, failed))]
    size = max_files or len(new) or 1
    for start in range(0, len(new), size):
        chunk = new[start : start + size]
        plan = {
            "batch": ingested["last_batch"] + 1,
            "ingested_at_us": time.time_ns() // 1000,
            "guard": ROWS_GUARD,
            "files": [{"rel": f.rel, "path": f.path, **f.record()} for f in chunk],
        }
        state.save_plan(plan)
        fault_point(f"bronze:planned:{source.name}")
        schema, stats = _run_plan(spark, settings, source, state, ingested, plan, schema, skipped)
        _add(totals, stats, new_columns, batches, plan, formats)
    if schema is None:
        schema = schemas.load_schema(location)
    return {
        "source": source.name,
        "table": ref.full_name,
        **totals,
        "new_columns": new_columns,
        "batches": len(batches),
        "schema_version": getattr(schema, "version", None),
        "formats": writer.sorted_formats(formats),
        # a redone plan's unreadable file is also a known failed one to the scan that follows: reported once
        "skipped": [{"path": s.rel, "reason": s.reason, "detail": s.detail}
                    for s in {(s.rel, s.reason): s for s in skipped}.values()],
        "seconds": round(time.monotonic() - started, 2),
    }


def has_new_files(settings: Settings, source: BronzeSource) -> bool:
    """What ``ingest_local`` would find to do, decided without Spark: a planned batch to redo, or a landing file
    that is new or changed (hashed only when its size or times moved) and not a known unreadable one. The caller
    holds the run lock (``_scan`` may save the source's state)."""
    return new_bytes(settings, source) is not None


def new_bytes(settings: Settings, source: BronzeSource) -> int | None:
    """The bytes ``ingest_local`` would read (a planned batch to redo, then the new or changed landing files), or
    None when it has nothing to do; without Spark. The caller holds the run lock (``_scan``)."""
    state = State(settings.checkpoint("bronze", source.name), settings.landing_dir)
    plan = state.plan()
    ingested = state.ingested()
    failed = ingested.get("failed", {})
    scan = _scan(settings, source, state, ingested)
    new = [f for f in scan.files if _is_new(f, ingested["files"]) and (f.rel not in failed or _is_new(f, failed))]
    if plan is None and not new:
        return None
    return sum(int(f.get("size") or 0) for f in (plan or {}).get("files", [])) + sum(f.size for f in new)


def _scan(settings: Settings, source: BronzeSource, state: State, ingested: dict) -> landing_scan.Scan:
    """The source's landing files, each hashed only when its size or times moved since its record (an ingested or a
    known unreadable file). A recorded file whose times moved but whose bytes did not (copied or restored with its
    times, hard-linked, chmod or chown: each changes its ctime) gets the new times in its record, saved at once, so
    later runs trust it again instead of hashing it in every scan of every run (at 1x, the whole 1.2 GB landing,
    twice per run). Its identity stays its path, size and SHA-256: the record says which times that hash was
    computed at, as for a file just ingested. Saves the state: the caller holds the run lock."""
    files, failed = ingested["files"], ingested.get("failed", {})
    scan = landing_scan.scan_source(settings.landing_dir, source, {**failed, **files})
    moved = False
    for f in scan.files:
        for records in (files, failed):
            record = f.retimed(records.get(f.rel))
            if record is not None:
                records[f.rel] = record
                moved = True
    if moved:
        state.save_ingested(ingested)
    return scan


def _is_new(f: landing_scan.LandedFile, files: dict) -> bool:
    prev = files.get(f.rel)
    return prev is None or prev.get("sha256") != f.sha256 or prev.get("size") != f.size


def _add(totals: dict, stats: dict, new_columns: list, batches: list, plan: dict, formats: set) -> None:
    for key in totals:
        totals[key] += int(stats.get(key) or 0)
    formats.update(writer.file_formats(stats))
    new_columns.extend(stats.get("new_columns", []))
    batches.append(plan["batch"])


def _run_plan(spark, settings, source, state: State, ingested: dict, plan: dict, schema, skipped: list,
              redo: bool = False):
    """Write the planned batch once (Delta skips a committed txnVersion), evolve the schema, mark it ingested."""
    ref = settings.table("bronze", source.name)
    location = settings.schema_location(source.name)
    batch = int(plan["batch"])
    present, vanished = [], []
    for f in plan["files"]:
        (present if os.path.lexists(f["path"]) else vanished).append(f)
    skipped.extend(landing_scan.skipped(f["rel"], "vanished") for f in vanished)
    if schema is None:
        schema = schemas.ensure_schema(location, settings.landing_dir, source, [f["path"] for f in present])
    writes = any(f["size"] for f in present)  # only empty files: no rows, and no Spark job to observe
    created_by_write = writes and not delta_io.exists(spark, ref)
    if not created_by_write:  # a first write creates the table itself: one commit, not CREATE TABLE + WRITE
        writer.ensure_bronze_table(spark, ref, schema.columns)
    # Redoing a plan of this code (ROWS_GUARD): was it committed before the crash? Its rows say so exactly (the
    # plan's batch and `_ingested_at`); a plan of older code relies on Delta's txnVersion guard instead.
    rows_guard = plan.get("guard") == ROWS_GUARD
    committed = None
    if redo and rows_guard and writes and not created_by_write:
        committed = _stats_from_table(spark, ref, batch, int(plan["ingested_at_us"]))
        committed = committed if int(committed.get("rows") or 0) else None
    app_id = state.app_id()
    stats = None
    if writes and committed is None:
        stats = _write_isolating_bad_files(spark, source, schema.columns, ref, app_id, plan, present, skipped,
                                           state, observe=rows_guard or not redo, suppress=suppression(spark, settings),
                                           creates=created_by_write, guard=not rows_guard)
    if created_by_write and delta_io.exists(spark, ref):
        register_table(spark, ref)
    elif created_by_write:  # every file failed to read: the empty table, as before
        writer.ensure_bronze_table(spark, ref, schema.columns)
    if committed is not None:  # written before the crash: nothing written now, the counts from the table
        # the files the first attempt could not read (in the plan before its write): reported and remembered as
        # failed again, never marked read
        first_unreadable = plan.get("unreadable", {})
        skipped.extend(landing_scan.skipped(rel, "unreadable", "unreadable_content", error=error)
                       for rel, error in first_unreadable.items())
        stats = {**committed, "unreadable": list(first_unreadable)}
    elif (redo and not rows_guard) or not present:  # Delta may have skipped it: nothing was observed
        stats = {**_stats_from_table(spark, ref, batch), "unreadable": (stats or {}).get("unreadable", [])}
    stats = stats or {}  # only empty files: nothing written, nothing to count
    fault_point(f"bronze:written:{source.name}")
    keys = json.loads(stats.get("rescued_keys") or "[]")
    new_columns: list[str] = []
    evolved = schemas.evolve(schema, keys) if keys else None
    if evolved is not None:
        writer.ensure_bronze_table(spark, ref, evolved.columns)  # table first: a crash here is redone
        schemas.save_schema(location, evolved)
        schema = evolved
        new_columns = list(evolved.added)
    unreadable = {s.rel: s.detail for s in skipped if s.reason == "unreadable"}
    read = {f["rel"] for f in present} - set(stats.get("unreadable", ()))
    failed = ingested.setdefault("failed", {})
    for f in plan["files"]:
        record = {k: f[k] for k in ("size", "sha256", "mtime_ns", "ctime_ns")}
        if f["rel"] in read:
            ingested["files"][f["rel"]] = {**record, "batch": batch}
            failed.pop(f["rel"], None)
        elif f["rel"] in unreadable:  # not tried again until its content changes (it is reported every run)
            failed[f["rel"]] = {**record, "detail": unreadable[f["rel"]]}
    ingested["last_batch"] = max(int(ingested["last_batch"]), batch)
    state.save_ingested(ingested)
    state.drop_plan()
    return schema, {**stats, "files": len(read), "new_columns": new_columns}


def _stats_from_table(spark, ref, batch: int, ingested_at_us: int | None = None) -> dict:
    """The counts of the rows batch ``batch`` wrote (only those with this ``_ingested_at``, when given: a plan's
    own rows, whatever an earlier state with the same batch numbers wrote). Bronze keeps file statistics on both
    columns, so only the batch's files are read."""
    if not delta_io.exists(spark, ref):
        return {}
    table = delta_io.read(spark, ref)
    rows = F.col(BATCH_ID) == batch
    if ingested_at_us is not None:
        rows = rows & (F.col(INGESTED_AT) == F.timestamp_micros(F.lit(ingested_at_us)))
    row = table.where(rows).agg(*writer.stat_columns(table.columns)).first()
    return row.asDict() if row is not None else {}


def read_files(spark, source: BronzeSource, columns, paths: list[str], ingested_at_us: int,
               formats: list | None = None):
    """Exactly these files, parsed into bronze rows (paths are never read as globs), and the session conf to run
    the rows' action under.

    Large plain CSV files (``plain_csv.plain_groups``) go through Spark's CSV reader, grouped by header, one file per
    partition (the conf); every other file is read whole (one row each) and parsed by ``parse.py``. Both give the
    same rows for a plain file. ``formats``: a list that gets one Observation (``writer.format_column``) per part,
    observing each file's date format from one of its rows (a plain file's line 2) or from all of them."""
    parts, whole = [], list(paths)
    if source.format == "csv":
        for (names, fmt), group in plain_csv.plain_groups(spark, paths, source.delimiter, columns).items():
            part = plain_csv.read_plain(spark, names, fmt, source.delimiter, columns, group)
            parts.append(_observe_formats(part, formats, F.col(LINE) == 2))  # no blank line in a plain file
            taken = {f.path for f in group}
            whole = [p for p in whole if p not in taken]
    if whole or not parts:
        parts.append(_observe_formats(_read_whole_files(spark, source, columns, whole), formats))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    conf = plain_csv.READ_CONF if len(whole) < len(paths) else {}
    return out.withColumn(INGESTED_AT, F.timestamp_micros(F.lit(int(ingested_at_us)))), conf


def _observe_formats(part, formats: list | None, rows=None):
    if formats is None or DATE_FORMAT not in part.columns:
        return part
    observation = Observation(f"bronze_formats_{uuid.uuid4().hex}")
    formats.append(observation)
    return part.observe(observation, writer.format_column(rows))


def _read_whole_files(spark, source: BronzeSource, columns, paths: list[str]):
    with session_conf(spark, plain_csv.SERIAL_LISTING):  # files we listed: no Spark job to list them
        loaded = spark.read.format("text").option("wholetext", "true").load(
            [landing_scan.literal_path(p) for p in paths])
    files = (
        loaded.select(
            "value",
            F.col("_metadata.file_path").alias(SOURCE_FILE),
            F.col("_metadata.file_modification_time").alias(SOURCE_MODIFIED),
        )
    )
    return files.transform(parse_landing_files(source.format, columns, source.delimiter))


def _write_isolating_bad_files(spark, source, columns, ref, app_id, plan, present, skipped, state: State,
                               observe=True, suppress=None, creates=False, guard=True) -> dict:
    """Write the batch; if Spark cannot read some file (corrupt gzip, lost permission), find it, report it, and
    write the others (it stays un-ingested, so the next run tries it again). The unreadable files are saved in the
    plan (``state``) before the others are written: a redo after a crash between that write and ``ingested.json``
    finds the rows committed and must not mark those files read."""
    batch = int(plan["batch"])
    paths = [f["path"] for f in present]
    try:
        return _observed_write(spark, source, columns, ref, app_id, batch, paths, plan["ingested_at_us"], observe,
                               suppress, creates, guard)
    except Exception as first_error:  # noqa: BLE001 - narrowed below to the files that cause it
        errors = {}  # rel -> why Spark could not read it
        for f in present:
            try:
                spark.read.format("text").option("wholetext", "true").load(landing_scan.literal_path(f["path"])).count()
            except Exception as e:  # noqa: BLE001
                errors[f["rel"]] = message = spark_error_message(e)
                skipped.append(landing_scan.skipped(f["rel"], "unreadable", "unreadable_content", error=message))
        if not errors:
            raise first_error
        plan["unreadable"] = errors
        state.save_plan(plan)
        fault_point(f"bronze:isolated:{source.name}")
        good = [f["path"] for f in present if f["rel"] not in errors]
        stats = {}
        if good:
            stats = _observed_write(spark, source, columns, ref, app_id, batch, good, plan["ingested_at_us"], observe,
                                    suppress, creates, guard)
        return {**stats, "unreadable": list(errors)}


def spark_error_message(error: BaseException) -> str:
    """What went wrong, for a person: the innermost Java cause (``EOFException: Unexpected end of input stream``),
    never Py4J's "An error occurred while calling o1524.count" wrapper that names an object, not the problem."""
    text = str(error).strip()
    qualified = r"(?:[a-z_$][\w$]*\.)+(\w*(?:Exception|Error))(?=:|\n|$)"  # not a stack frame's Foo$.bar(
    causes = re.findall(qualified + r":? ?([^\n]*?)(?=" + qualified + r"|\n|$)", text)
    if causes:  # the last one named: the innermost cause
        name, message = causes[-1][0], causes[-1][1].strip().rstrip(":").strip()
        return (f"{name}: {message}" if message else name)[:200]
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("An error occurred while")]
    return (lines[0].strip() if lines else type(error).__name__)[:200]


def _observed_write(spark, source, columns, ref, app_id, batch, paths, ingested_at_us, observe=True,
                    suppress=None, creates=False, guard=True) -> dict:
    """Append and measure in the same pass; ``observe=False`` when Delta may skip the write (a redone plan of
    older code, ``guard``: Delta's txnVersion check), since a skipped write runs no job and its observation would
    never arrive."""
    formats: list[Observation] = []
    df, conf = read_files(spark, source, columns, paths, ingested_at_us, formats if observe else None)
    if suppress is not None:  # erased users (fitlake forget) are not written again
        df = df.transform(suppress)
    with session_conf(spark, {**conf, **WRITE_CONF}):
        if not observe:
            writer.write_batch(df, batch, ref, app_id, creates, guard)
            return {}
        observation = Observation(f"bronze_{uuid.uuid4().hex}")
        writer.write_batch(df.observe(observation, *writer.stat_columns()), batch, ref, app_id, creates, guard)
    pairs = {pair for o in formats for pair in writer.file_formats(o.get)}  # ingest_local sorts the run's union
    return {**observation.get, "file_formats": json.dumps([{"file": f, "format": fmt} for f, fmt in pairs])}
