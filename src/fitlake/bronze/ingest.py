"""Bronze's entry points, each choosing the local or the Databricks path: ``ingest_source`` / ``ingest_all`` (append
a source's new landing files to its bronze table exactly once: planned batches locally, ``local_batch``; Auto
Loader on Databricks, ``autoloader``), ``read_landing_stream`` (the streaming job's reader: ``local_stream`` or
Auto Loader), ``has_new_files`` and ``describe``. The readers, the writer (``writer``) and the per-source state
(``state``, ``local_batch``) live in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pyspark.sql import DataFrame

from fitlake.bronze import autoloader, local_stream
from fitlake.bronze.sources import BATCH_SOURCES, SOURCES, BronzeSource
from fitlake.concurrency import run_concurrently, thread_session
from fitlake.config import Settings


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


def read_landing_stream(
    spark, settings: Settings, source: BronzeSource | str, max_files_per_trigger: int | None = None
) -> DataFrame:
    """A streaming DataFrame of bronze-shaped rows (all but ``_batch_id``) from the source's landing files: a Spark
    file stream locally (``local_stream``), Auto Loader on Databricks (``autoloader``)."""
    reader = local_stream if settings.is_local else autoloader
    return reader.read_landing_stream(spark, settings, resolve_source(source), max_files_per_trigger)


def ingest_source(
    spark, settings: Settings, name: str, max_files_per_trigger: int | None = None
) -> dict:
    """Append the source's new landing files to ``bronze.<name>``; files already ingested are never read again.

    Returns counts: files (new files with content; an empty file is marked as seen but yields no row to count),
    rows, corrupt_rows, rescued_rows, new_columns (real columns from the next run on), batches, schema_version,
    formats (sorted (file, date format) pairs of the files read, as the writes observed them), seconds. Rows of one
    run share one ``_ingested_at``.
    """
    if settings.is_local:
        from fitlake.bronze.local_batch import ingest_local

        return ingest_local(spark, settings, resolve_source(name), max_files_per_trigger)
    return autoloader.ingest_autoloader(spark, settings, resolve_source(name), max_files_per_trigger)


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

    Sources run side by side (``settings.parallel_tables`` threads, each with its own session: bronze sets session
    confs around its reads), as silver's and gold's tables do: each source has its own table, state and plan.
    ``progress`` gets one line per source as it finishes (e.g. ``print``). Raises BronzeIngestError at the end if
    any failed.
    """

    def one(name: str) -> dict:
        try:
            return ingest_source(thread_session(spark), settings, name)
        except Exception as e:  # noqa: BLE001 - reported with the others below, never swallowed
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return {"source": name, "table": f"bronze.{name}", "error": first[:300]}

    def done(_name: str, counts: dict) -> None:
        if progress is not None:
            progress(describe(counts))

    results = run_concurrently(list(names or BATCH_SOURCES), one, settings.parallel_tables, done)
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


def new_bytes(settings: Settings, name: str) -> int | None:
    """The landing bytes ``ingest_source`` would read locally, None when nothing (``has_new_files``); no Spark."""
    from fitlake.bronze.local_batch import new_bytes as local_new_bytes

    return local_new_bytes(settings, resolve_source(name))
