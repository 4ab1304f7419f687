"""Bronze rows as a Spark file stream over the local landing folder: the streaming job's ``files`` source.

The local batch ingest does not use it (it reads planned batches, ``local_batch``); on Databricks the same rows come
from Auto Loader (``autoloader``). ``fitlake.bronze.read_landing_stream`` picks one of the two by target.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fitlake.bronze import schema as schemas
from fitlake.bronze.parse import INGESTED_AT, SOURCE_FILE, SOURCE_MODIFIED, parse_landing_files
from fitlake.bronze.sources import BronzeSource
from fitlake.config import Settings

# The file source forgets files older than maxFileAge (default 7 days) relative to the newest file it has seen:
# a real export dropped in later with its original 2016 timestamps would be skipped without a word.
MAX_FILE_AGE = "36500d"


def file_source_options(source: BronzeSource, max_files_per_trigger: int | None = None) -> dict[str, str]:
    """Options of the local file stream source: whole files, listed recursively, matched by file name."""
    return {
        "wholetext": "true",
        "recursiveFileLookup": "true",  # no `date=` partition column clashing with the JSON field `date`
        "pathGlobFilter": source.glob,
        "maxFilesPerTrigger": str(max_files_per_trigger or source.max_files_per_trigger),
        "maxFileAge": MAX_FILE_AGE,
    }


def read_landing_stream(spark, settings: Settings, source: BronzeSource, max_files_per_trigger=None) -> DataFrame:
    """A streaming DataFrame of bronze-shaped rows (all but ``_batch_id``) from the source's landing files."""
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
