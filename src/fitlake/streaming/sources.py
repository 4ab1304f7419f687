"""The streaming job's input: the landing folder's event files (bronze's Auto Loader-style reader) or a Kafka topic,
and how Kafka records become bronze rows and raw event columns."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fitlake.bronze import SOURCES as BRONZE_SOURCES
from fitlake.bronze import read_landing_stream
from fitlake.bronze.local_stream import LandingStager, read_staged_stream, staging_dir
from fitlake.config import Settings
from fitlake.streaming.options import StreamError, StreamOptions
from fitlake.streaming.transforms import parse_event_json

log = logging.getLogger("fitlake.streaming")


def landing_stager(settings: Settings, opts: StreamOptions, checkpoint_dir: str) -> LandingStager | None:
    """Locally, the files source reads only what fitlake's own landing listing accepts (``local_stream``): the
    stager lists ``landing/events`` and stages new files; None for Kafka and on Databricks (Auto Loader)."""
    if opts.source == "kafka" or not settings.is_local:
        return None
    return LandingStager(settings.landing_dir, BRONZE_SOURCES["events"], staging_dir(checkpoint_dir))


def read_event_source(spark: SparkSession, settings: Settings, opts: StreamOptions,
                      stager: LandingStager | None = None) -> DataFrame:
    """The raw event stream: the bronze Auto Loader-style reader over ``landing/events/*.json`` (bronze-shaped rows:
    one STRING per field + lineage; atomically renamed files only, dot-temp files are never read), or the topic.
    With a ``stager`` (local), the staged copies of the files it accepted."""
    if opts.source == "kafka":
        return read_kafka(spark, opts)
    if stager is not None:
        return read_staged_stream(spark, settings, BRONZE_SOURCES["events"], stager, opts.max_files_per_trigger)
    return read_landing_stream(spark, settings, BRONZE_SOURCES["events"], opts.max_files_per_trigger)


def read_kafka(spark: SparkSession, opts: StreamOptions) -> DataFrame:
    """The topic as raw records. ``failOnDataLoss`` is off so offsets aged out by retention do not stop the job —
    they are skipped with Spark's warning, and we say so once at start."""
    log.warning("kafka source: failOnDataLoss=false — records removed by retention before we read them are skipped")
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", opts.bootstrap)
        .option("subscribe", opts.topic)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "false")
    )
    if opts.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", opts.max_offsets_per_trigger)
    return reader.load()


def check_kafka_reachable(bootstrap: str, timeout: float = 10.0) -> None:
    """Fail fast with one sentence instead of Spark retrying an unreachable broker for minutes."""
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000)})
    try:
        admin.list_topics(timeout=timeout)
    except Exception as e:  # KafkaException: transport failure
        raise StreamError(f"Kafka at {bootstrap} is not reachable ({e}): start a broker, e.g. "
                          "`bash scripts/kafka.sh start`, or fix --bootstrap.") from e


def kafka_bronze_rows(batch: DataFrame) -> DataFrame:
    """Kafka records as bronze keeps them: key and value as text, the coordinates, the broker timestamp."""
    return batch.select(
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        "topic", "partition", "offset", "timestamp",
    )


def kafka_events(bronze: DataFrame) -> DataFrame:
    """Bronze Kafka rows -> raw event columns; the record's coordinates are its lineage."""
    return bronze.transform(parse_event_json).withColumn(
        "_source_file", F.format_string("kafka:%s/%05d/%020d", "topic", "partition", "offset")
    ).withColumn("_line", F.lit(None).cast("int"))
