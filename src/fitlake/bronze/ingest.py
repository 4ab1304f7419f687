"""The edges of bronze: read a landing folder (locally in planned batches, on Databricks with Auto Loader), append
it to its bronze Delta table exactly once."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.bronze import autoloader
from fitlake.bronze import schema as schemas
from fitlake.bronze.autoloader import cloudfiles_options  # noqa: F401 - re-exported (fitlake.bronze)
from fitlake.bronze.parse import BATCH_ID, INGESTED_AT, SOURCE_FILE, SOURCE_MODIFIED, parse_landing_files
from fitlake.bronze.sources import BATCH_SOURCES, SOURCES, BronzeSource
from fitlake.bronze.state import pending_batch as _pending_batch
from fitlake.bronze.state import txn_app_id as _txn_app_id
from fitlake.bronze.writer import stat_columns as _stat_columns
from fitlake.bronze.writer import write_batch as _write_batch
from fitlake.config import Settings, TableRef
from fitlake.ops.suppress import suppression

# The file source forgets files older than maxFileAge (default 7 days) relative to the newest file it has seen:
# a real export dropped in later with its original 2016 timestamps would be skipped without a word.
MAX_FILE_AGE = "36500d"


class BronzeIngestError(RuntimeError):
    """One or more sources failed; ``results`` holds the counts of every source, failed ones with ``error``."""

    def __init__(self, message: str, results: list[dict] | None = None):
        super().__init__(message)
        self.results = results or []


def resolve_source(source: BronzeSource | str) -> BronzeSource:
    if isinstance(source, BronzeSource):
        return source
    if source not in SOURCES:
        raise KeyError(f"unknown bronze source {source!r}: choose one of {', '.join(SOURCES)}")
    return SOURCES[source]


def file_source_options(source: BronzeSource, max_files_per_trigger: int | None = None) -> dict[str, str]:
    """Options of the local file stream source: whole files, listed recursively, matched by file name."""
    return {
        "wholetext": "true",
        "recursiveFileLookup": "true",  # no `date=` partition column clashing with the JSON field `date`
        "pathGlobFilter": source.glob,
        "maxFilesPerTrigger": str(max_files_per_trigger or source.max_files_per_trigger),
        "maxFileAge": MAX_FILE_AGE,
    }


def read_landing_stream(
    spark, settings: Settings, source: BronzeSource | str, max_files_per_trigger: int | None = None
) -> DataFrame:
    """A streaming DataFrame of bronze-shaped rows (all but ``_batch_id``) from the source's landing files."""
    source = resolve_source(source)
    if not settings.is_local:
        return autoloader.read_landing_stream(spark, settings, source, max_files_per_trigger)
    schema = schemas.ensure_schema(settings.schema_location(source.name), settings.landing_dir, source)
    return _read_files(spark, settings, source, schema.columns, max_files_per_trigger)


def _read_files(spark, settings: Settings, source: BronzeSource, columns, max_files_per_trigger) -> DataFrame:
    folder = settings.landing_dir / source.root
    folder.mkdir(parents=True, exist_ok=True)  # a missing folder is "no files yet", not an error
    files = (
        spark.readStream.format("text")
        .options(**file_source_options(source, max_files_per_trigger))
        .load(str(folder))
        .select(
            "value",
            F.col("_metadata.file_path").alias(SOURCE_FILE),
            F.col("_metadata.file_modification_time").alias(SOURCE_MODIFIED),
        )
    )
    return files.transform(parse_landing_files(source.format, columns, source.delimiter)).withColumn(
        INGESTED_AT, F.current_timestamp()
    )


class _BatchWriter:
    """The foreachBatch function: write one batch, measure it in the same pass, hand its new keys to ``on_keys``.

    The counts come from an Observation on the write itself (no second scan). A batch the checkpoint shows as
    started but not committed may already be in Delta (the write is then skipped, so nothing is observed): that
    one is measured from the table instead. Keys are checked inside the batch, before Spark commits it, so a
    crash between the write and the schema evolution is redone by the replay.
    """

    def __init__(self, ref: TableRef, app_id: str, pending: int | None, on_keys: Callable[[list[str]], None]):
        self.ref, self.app_id, self.pending, self.on_keys = ref, app_id, pending, on_keys
        # One `_ingested_at` per run, not per micro-batch: the file source orders files with equal modification
        # times arbitrarily, so an original and its correction may land in different micro-batches of one run;
        # with one timestamp the later `_source_file` still wins (the landing contract).
        self.ingested_at = F.timestamp_micros(F.lit(time.time_ns() // 1000))
        self.totals = {"rows": 0, "corrupt_rows": 0, "rescued_rows": 0}
        self.batches: list[int] = []
        self.suppress: Callable[[DataFrame], DataFrame] = lambda df: df  # set to fitlake.ops.suppress.suppression

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        batch_df = batch_df.withColumn(INGESTED_AT, self.ingested_at)
        batch_df = batch_df.transform(self.suppress)
        if batch_id == self.pending:
            _write_batch(batch_df, batch_id, self.ref, self.app_id)
            spark = batch_df.sparkSession
            stats = delta_io.read(spark, self.ref).where(F.col(BATCH_ID) == batch_id).agg(*_stat_columns()).first()
            stats = stats.asDict()
        else:
            observation = Observation(f"bronze_{uuid.uuid4().hex}")
            _write_batch(batch_df.observe(observation, *_stat_columns()), batch_id, self.ref, self.app_id)
            stats = observation.get
        for key in self.totals:
            self.totals[key] += int(stats.get(key) or 0)
        keys = json.loads(stats.get("rescued_keys") or "[]")
        if keys:
            self.on_keys(keys)
        self.batches.append(batch_id)


def ingest_source(
    spark, settings: Settings, name: str, max_files_per_trigger: int | None = None
) -> dict:
    """Append the source's new landing files to ``bronze.<name>``; files already ingested are never read again.

    Returns counts: files (new files with content; an empty file is marked as seen but yields no row to count),
    rows, corrupt_rows, rescued_rows, new_columns (real columns from the next run on), batches, schema_version,
    seconds. Rows of one run share one ``_ingested_at``.
    """
    if settings.is_local:
        from fitlake.bronze.local_batch import ingest_local

        return ingest_local(spark, settings, resolve_source(name), max_files_per_trigger)
    started = time.monotonic()
    source = resolve_source(name)
    ref = settings.table("bronze", source.name)
    checkpoint = settings.checkpoint("bronze", source.name)
    new_columns: list[str] = []
    # Auto Loader lists the files; the same parsing and schema evolution as locally (bronze/autoloader.py)
    stream, on_keys, current = autoloader.bronze_stream(spark, settings, source, ref, new_columns, max_files_per_trigger)

    writer = _BatchWriter(ref, _txn_app_id(checkpoint), _pending_batch(checkpoint), on_keys)
    writer.suppress = suppression(spark, settings)  # erased users (fitlake forget) are not written again
    query = (
        stream.writeStream.queryName(f"bronze_{source.name}_{uuid.uuid4().hex[:8]}")
        .foreachBatch(writer)
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return {
        "source": source.name,
        "table": ref.full_name,
        "files": None,
        **writer.totals,
        "new_columns": new_columns,
        "batches": len(writer.batches),
        "schema_version": current[0].version if current[0] is not None else None,
        "seconds": round(time.monotonic() - started, 2),
    }


def describe(counts: dict) -> str:
    """One line for the user: what came in, what needs attention."""
    if counts.get("error"):
        return f"{counts['table']}: FAILED ({counts['error']}); rerun to continue where it stopped"
    skipped = counts.get("skipped") or []
    not_read = ""
    if skipped:
        from fitlake.bronze.landing_scan import Skipped, summarize

        items = [Skipped(s["path"], s["reason"], s["detail"]) for s in skipped]
        not_read = f"; {len(items)} landing entries NOT read ({summarize(items)}):" + "".join(
            f"\n    {s.describe()}" for s in items
        )
    if not counts.get("batches"):
        return f"{counts['table']}: no new files{not_read}"
    files = f"{counts['files']} new files, " if counts.get("files") is not None else ""
    parts = [f"{counts['table']}: {files}{counts['rows']} rows"]
    if counts.get("corrupt_rows"):
        parts.append(f"{counts['corrupt_rows']} unparseable lines kept in _corrupt_record")
    if counts.get("rescued_rows"):
        parts.append(f"{counts['rescued_rows']} rows with unknown fields kept in _rescued_data")
    if counts.get("new_columns"):
        parts.append(f"new columns from the next run on: {', '.join(counts['new_columns'])}")
    return ", ".join(parts) + f" ({counts['seconds']} s)" + not_read


def ingest_all(
    spark,
    settings: Settings,
    names: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Ingest every batch source (or ``names``); one failing source does not stop the others.

    ``progress`` gets one line per source (e.g. ``print``). Raises BronzeIngestError at the end if any failed.
    """
    results = []
    for name in names or BATCH_SOURCES:
        try:
            counts = ingest_source(spark, settings, name)
        except Exception as e:  # noqa: BLE001 - reported with the others below, never swallowed
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            counts = {"source": name, "table": f"bronze.{name}", "error": first[:300]}
        results.append(counts)
        if progress is not None:
            progress(describe(counts))
    failed = [r for r in results if r.get("error")]
    if failed:
        raise BronzeIngestError(
            f"{len(failed)} bronze source(s) failed: {', '.join(r['source'] for r in failed)}; the others were "
            "ingested. Rerun to continue where they stopped: nothing is lost or duplicated.",
            results,
        )
    return results


def has_new_files(settings: Settings, name: str) -> bool:
    """Whether ``ingest_source`` would read anything locally: a landing file not ingested yet (new, or changed
    content), or a batch a killed run left planned. Answered from the landing listing and the state files alone
    (no Spark), so ``fitlake run`` can tell a no-op before it starts a JVM."""
    from fitlake.bronze.local_batch import has_new_files as local_has_new_files

    return local_has_new_files(settings, resolve_source(name))


__all__ = [
    "BronzeIngestError",
    "cloudfiles_options",
    "describe",
    "file_source_options",
    "ingest_all",
    "ingest_source",
    "read_landing_stream",
]
