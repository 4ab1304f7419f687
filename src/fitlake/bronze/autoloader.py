"""Bronze on Databricks (targets dev/prod): the landing Volume through Auto Loader, parsed as the local path parses.

Auto Loader (``cloudFiles``) lists the source's files and tracks them in the checkpoint (each file once); it reads
them as whole text files and ``fitlake.bronze.parse`` maps every line to its own file's header / keys by name,
exactly as the local file source does. Why text and not Auto Loader's CSV/JSON readers with ``schemaHints``:

* An empty folder. Without a schema, Auto Loader infers one from the files and fails on an empty folder
  (``CF_EMPTY_DIR_FOR_SCHEMA_INFERENCE``: "Cannot infer schema when the input path is empty ... specify the
  schema"). ``text`` is a fixed-schema format ("Configure schema inference and evolution in Auto Loader": Text -
  not applicable, fixed schema): the full schema is known, so an empty folder is "no files yet" - for
  ``ingest_all`` and for the streaming job's ``events/``.
* A new column. ``addNewColumns`` stops the stream (``UnknownFieldException``) at every new column and needs a
  restart, and it "is not allowed when the schema of the stream is provided" (same page). Here a new column is
  kept in ``_rescued_data`` by the run that meets it, persisted in the source's schema location
  (``bronze/schema.py``) and added to the table, and is a real column from the next run on: no stop to restart
  from, and the same rows as ``--target local``.
* The same rows as locally: per-file CSV headers by name, line numbers (``_line``, which silver's dedup order
  uses), the same corrupt/rescued rules. Auto Loader's own CSV/JSON readers have no line numbers.

Only documented options are passed (Auto Loader options page: common options, generic file options, TEXT
options); the stand-in workspace (``FITLAKE_STANDIN_WORKSPACE``, see ``fitlake.config.standin_root``) replaces
``cloudFiles`` with a test-only source that rejects anything else.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fitlake.bronze import schema as schemas
from fitlake.bronze.parse import INGESTED_AT, SOURCE_FILE, SOURCE_MODIFIED, parse_landing_files
from fitlake.bronze.sources import BronzeSource
from fitlake.bronze.state import pending_batch, txn_app_id
from fitlake.bronze.writer import BatchWriter, ensure_bronze_table, sorted_formats
from fitlake.config import Settings, TableRef, standin_root
from fitlake.ops.suppress import suppression

STANDIN_MODULE = "fitlake_bundle.standin"  # beside databricks.yml (bundle/), never in the wheel
AUTOLOADER_STATE = "_autoloader"  # Auto Loader's own schema tracking, inside the source's schema location


def cloudfiles_options(
    settings: Settings, source: BronzeSource, max_files_per_trigger: int | None = None
) -> dict[str, str]:
    """Auto Loader options of one source: whole files as text, matched by name, listed recursively."""
    return {
        "cloudFiles.format": "text",  # fixed schema (value STRING): nothing to infer, an empty folder is fine
        "cloudFiles.schemaLocation": f"{settings.schema_location(source.name)}/{AUTOLOADER_STATE}",
        "cloudFiles.includeExistingFiles": "true",
        "cloudFiles.maxFilesPerTrigger": str(max_files_per_trigger or source.max_files_per_trigger),
        "wholeText": "true",  # TEXT option: one row per file, split into lines by parse.py
        "pathGlobFilter": source.glob,  # generic file option: x.csv.tmp or other files never match
        "recursiveFileLookup": "true",  # generic file option: no `date=` partition column from the folders
    }


def open_cloudfiles(spark, path: str, options: dict[str, str], schema=None) -> DataFrame:
    """``spark.readStream.format("cloudFiles")``; in the stand-in workspace its test-only replacement."""
    if standin_root() is not None:
        return importlib.import_module(STANDIN_MODULE).read_cloudfiles(spark, path, options, schema)
    reader = spark.readStream.format("cloudFiles").options(**options)
    if schema is not None:
        reader = reader.schema(schema)
    return reader.load(path)


def read_cloudfiles(
    spark, settings: Settings, source: BronzeSource, columns, max_files_per_trigger: int | None = None
) -> DataFrame:
    """A streaming DataFrame of bronze-shaped rows (all but ``_batch_id``) for ``columns`` (the persisted schema)."""
    files = open_cloudfiles(
        spark, str(settings.landing_dir / source.root), cloudfiles_options(settings, source, max_files_per_trigger)
    ).select(
        "value",
        F.col("_metadata.file_path").alias(SOURCE_FILE),
        F.col("_metadata.file_modification_time").alias(SOURCE_MODIFIED),
    )
    return files.transform(parse_landing_files(source.format, list(columns), source.delimiter)).withColumn(
        INGESTED_AT, F.current_timestamp()
    )


def read_landing_stream(spark, settings: Settings, source: BronzeSource, max_files_per_trigger=None) -> DataFrame:
    """The streaming job's reader on Databricks: the persisted schema (hints while the folder is empty)."""
    schema = schemas.ensure_schema(settings.schema_location(source.name), settings.landing_dir, source)
    return read_cloudfiles(spark, settings, source, schema.columns, max_files_per_trigger)


def bronze_stream(
    spark, settings: Settings, source: BronzeSource, ref: TableRef, new_columns: list[str], max_files_per_trigger=None
) -> tuple[DataFrame, Callable[[list[str]], None], list]:
    """(stream, on_keys, [current schema]) for ``ingest_source``: the same schema evolution as the local path.

    The table is created (or given the persisted schema's columns) before the stream starts; ``on_keys`` gets
    the ``_rescued_data`` keys of each batch and evolves table first, then schema (a crash between the two is
    redone by the replayed batch).
    """

    location = settings.schema_location(source.name)
    schema = schemas.ensure_schema(location, settings.landing_dir, source)
    ensure_bronze_table(spark, ref, schema.columns)
    current = [schema]

    def on_keys(keys: list[str]) -> None:
        evolved = schemas.evolve(current[0], keys)
        if evolved is not None:
            ensure_bronze_table(spark, ref, evolved.columns)
            schemas.save_schema(location, evolved)
            current[0] = evolved
            new_columns.extend(evolved.added)

    return read_cloudfiles(spark, settings, source, schema.columns, max_files_per_trigger), on_keys, current


def ingest_autoloader(spark, settings: Settings, source: BronzeSource, max_files_per_trigger=None) -> dict:
    """``ingest_source`` on Databricks: one available-now Auto Loader query whose ``foreachBatch`` appends each batch
    exactly once (``BatchWriter``); the counts as ``ingest_source`` documents them (``files`` is not known here)."""
    started = time.monotonic()
    ref = settings.table("bronze", source.name)
    checkpoint = settings.checkpoint("bronze", source.name)
    new_columns: list[str] = []
    # Auto Loader lists the files; the same parsing and schema evolution as locally (bronze_stream above)
    stream, on_keys, current = bronze_stream(spark, settings, source, ref, new_columns, max_files_per_trigger)

    writer = BatchWriter(ref, txn_app_id(checkpoint), pending_batch(checkpoint), on_keys)
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
        "formats": sorted_formats(writer.formats),
        "seconds": round(time.monotonic() - started, 2),
    }


__all__ = [
    "bronze_stream",
    "cloudfiles_options",
    "ingest_autoloader",
    "open_cloudfiles",
    "read_cloudfiles",
    "read_landing_stream",
]
