"""The streaming job: live events (files or Kafka) -> bronze -> silver -> 30 s windows + goal alerts.

Three queries, each with its own checkpoint so each can stop and resume on its own:

- ``ingest``: source -> foreachBatch: append bronze (raw), quarantine what fails an expectation, insert-only MERGE
  of the rest into ``silver.events`` on ``event_id``. Appends carry ``txnAppId``/``txnVersion`` and the MERGE only
  inserts, so a replayed batch (crash after a write, before the checkpoint commit) changes nothing.
- ``windows``: ``silver.events`` stream -> 1-minute watermark -> 30 s tumbling windows, update output mode ->
  foreachBatch: MERGE the windows the batch changed into ``gold.event_windows`` on (user, activity, start). Not
  append mode: there a window reaches Delta only in the (no-data) batch after the watermark passes it, and Spark
  does not run that batch after a restart until new data arrives — a job killed between the two held its closed
  windows in state only, and a finite input never produced them. Here gold has every window as of the last
  committed batch; a window changes until the watermark passes its end, later events are dropped and counted.
- ``alerts``: ``silver.events`` stream -> foreachBatch: recompute the touched users' days from silver and
  insert-only MERGE the first goal crossing per (user_id, date) into ``gold.goal_alerts`` — one alert per user per
  day, however often a batch is replayed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.bronze import SOURCES as BRONZE_SOURCES
from fitlake.bronze import read_landing_stream
from fitlake.bronze.ingest import ensure_bronze_table
from fitlake.bronze.parse import META_COLUMNS as BRONZE_META_COLUMNS
from fitlake.config import Settings, TableRef
from fitlake.faults import fault_point
from fitlake.streaming.schema import (
    BRONZE_KAFKA_SCHEMA,
    DEFAULT_TOPIC,
    EVENT_WINDOWS_SCHEMA,
    GOAL_ALERTS_SCHEMA,
    SILVER_EVENTS_SCHEMA,
    quarantine_schema,
)
from fitlake.streaming.transforms import (
    aggregate_windows,
    first_delivery_per_event,
    first_goal_crossings,
    parse_event_json,
    split_valid_events,
    to_silver_events,
    with_event_rule,
    with_event_window,
)

log = logging.getLogger("fitlake.streaming")

SOURCES = ("files", "kafka")
TS_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"  # a timestamp literal in the session time zone (UTC), exact to the µs
QUERY_NAMES = ("ingest", "windows", "alerts")


class StreamError(RuntimeError):
    """A streaming problem the user can act on, said in one sentence."""


@dataclass(frozen=True)
class StreamOptions:
    source: str = "files"
    trigger_seconds: float = 5.0  # processing-time trigger of the live mode
    available_now: bool = False  # process what is there, then stop
    until_events: int | None = None  # live mode: stop once this many events were ingested
    until_seconds: float | None = None  # live mode: stop after this long
    bootstrap: str | None = None  # Kafka bootstrap servers
    topic: str = DEFAULT_TOPIC
    max_files_per_trigger: int | None = None
    max_offsets_per_trigger: int | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise StreamError(f"Unknown source {self.source!r}: choose one of {', '.join(SOURCES)}.")
        if self.source == "kafka" and not self.bootstrap:
            raise StreamError("--source kafka needs --bootstrap HOST:PORT (e.g. the broker of `make kafka`).")


# ---------------------------------------------------------------------------------------------------- tables --


@dataclass(frozen=True)
class StreamTables:
    bronze: TableRef
    quarantine: TableRef
    silver: TableRef
    windows: TableRef
    alerts: TableRef

    @classmethod
    def of(cls, settings: Settings, source: str) -> "StreamTables":
        bronze_name = "events" if source == "files" else "events_kafka"
        return cls(
            bronze=settings.table("bronze", bronze_name),
            quarantine=settings.table("quarantine", bronze_name),
            silver=settings.table("silver", "events"),
            windows=settings.table("gold", "event_windows"),
            alerts=settings.table("gold", "goal_alerts"),
        )

    def all(self) -> dict[str, TableRef]:
        return {r.full_name: r for r in (self.bronze, self.quarantine, self.silver, self.windows, self.alerts)}


def ensure_stream_tables(spark: SparkSession, settings: Settings, source: str, source_df: DataFrame) -> StreamTables:
    """Create the job's tables when missing, so streams start against a fixed schema (idempotent). bronze.events
    is shaped exactly like the bronze ingest's (same helper, columns from the persisted source schema)."""
    tables = StreamTables.of(settings, source)
    if source == "files":
        ensure_bronze_table(spark, tables.bronze, [c for c in source_df.columns if c not in BRONZE_META_COLUMNS])
    else:
        delta_io.ensure_table(spark, tables.bronze, BRONZE_KAFKA_SCHEMA)
    if not delta_io.exists(spark, tables.quarantine):
        delta_io.ensure_table(spark, tables.quarantine, quarantine_schema(delta_io.read(spark, tables.bronze).schema))
    delta_io.ensure_table(spark, tables.silver, SILVER_EVENTS_SCHEMA, partition_by=["event_date"])
    delta_io.ensure_table(spark, tables.windows, EVENT_WINDOWS_SCHEMA)
    delta_io.ensure_table(spark, tables.alerts, GOAL_ALERTS_SCHEMA)
    return tables


def checkpoint(settings: Settings, query: str, source: str) -> str:
    """One checkpoint per query; the ingest one per source (files and Kafka have different offsets)."""
    return settings.checkpoint("streaming", f"ingest_{source}" if query == "ingest" else query)


def _txn_app_id(checkpoint_dir: str) -> str:
    """A stable id for Delta's idempotent writes, born with the checkpoint: a fresh checkpoint (batch ids from 0
    again) gets a fresh id, so its writes are not mistaken for replays of the old one."""
    path = Path(checkpoint_dir)
    path.mkdir(parents=True, exist_ok=True)
    marker = path / "_fitlake_txn_app_id"
    if not marker.is_file():
        tmp = path / f".{marker.name}.{os.getpid()}"
        tmp.write_text(f"fitlake-stream-{uuid.uuid4()}\n")
        tmp.replace(marker)
    return marker.read_text().strip()


def _append(df: DataFrame, ref: TableRef, app_id: str, batch_id: int) -> None:
    """Idempotent append: Delta skips it when (app_id, batch_id) was already committed to this table."""
    writer = df.write.format("delta").mode("append").option("txnAppId", app_id).option("txnVersion", batch_id)
    writer.save(ref.path) if ref.path is not None else writer.saveAsTable(ref.full_name)


# ---------------------------------------------------------------------------------------------------- source --


def read_event_source(spark: SparkSession, settings: Settings, opts: StreamOptions) -> DataFrame:
    """The raw event stream: the bronze Auto Loader-style reader over ``landing/events/*.json`` (bronze-shaped rows:
    one STRING per field + lineage; atomically renamed files only, dot-temp files are never read), or the topic."""
    if opts.source == "kafka":
        return read_kafka(spark, opts)
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


# ---------------------------------------------------------------------------------------------------- ingest --


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


class IngestBatch:
    """foreachBatch of the ingest query: bronze append, quarantine append, silver insert-only MERGE."""

    def __init__(self, spark: SparkSession, tables: StreamTables, source: str, app_id: str):
        self.spark, self.tables, self.source, self.app_id = spark, tables, source, app_id
        self.bronze_columns = delta_io.read(spark, tables.bronze).columns
        self.quarantine_columns = delta_io.read(spark, tables.quarantine).columns
        # What this process ingested, per batch id (a replayed batch overwrites its own entry, never adds).
        self.events: dict[int, int] = {}
        self.quarantined: dict[int, dict[str, int]] = {}

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        if self.source == "kafka":
            batch = kafka_bronze_rows(batch)
        bronze = batch.withColumn("_ingested_at", F.current_timestamp()).withColumn(
            "_batch_id", F.lit(batch_id).cast("bigint"))
        bronze = bronze.select(*[c for c in self.bronze_columns if c in bronze.columns]).persist()
        try:
            events = bronze.transform(kafka_events) if self.source == "kafka" else bronze
            # One small job for every count we report and the day partitions the MERGE touches.
            # (Spark's numInputRows over-counts when foreachBatch runs several actions; these counts are exact.)
            event_time = F.when(F.col("_rule").isNull(), F.col("event_time").try_cast("timestamp"))
            stats = events.transform(with_event_rule).groupBy("_rule").agg(
                F.count(F.lit(1)).alias("count"),
                F.date_format(F.min(event_time), TS_FORMAT).alias("min_time"),
                F.date_format(F.max(event_time), TS_FORMAT).alias("max_time"),
                F.collect_set(F.to_date(event_time)).alias("days"),
            ).collect()
            self.events[batch_id] = sum(r["count"] for r in stats)
            if not stats:
                return
            self.quarantined[batch_id] = {r["_rule"]: r["count"] for r in stats if r["_rule"] is not None}
            valid_stats = next((r for r in stats if r["_rule"] is None), None)
            valid, invalid = split_valid_events(events)
            fault_point("stream:ingest:bronze")
            _append(bronze, self.tables.bronze, self.app_id, batch_id)
            if self.quarantined[batch_id]:
                fault_point("stream:ingest:quarantine")
                quarantined = invalid.select(
                    *[c for c in self.quarantine_columns if c in bronze.columns], "_rule",
                    F.current_timestamp().alias("_quarantined_at"),
                )
                _append(quarantined, self.tables.quarantine, self.app_id, batch_id)
            if valid_stats is not None:
                fault_point("stream:ingest:silver")
                merge_new_events(self.spark, self.tables.silver, valid.transform(to_silver_events(self.source)),
                                 sorted(valid_stats["days"]), valid_stats["min_time"], valid_stats["max_time"])
            fault_point("stream:ingest:done")
        finally:
            bronze.unpersist()


def merge_new_events(spark: SparkSession, silver: TableRef, events: DataFrame, days: list[dt.date],
                     min_time: str, max_time: str) -> None:
    """Insert events whose ``event_id`` silver has not seen; never update.

    A re-delivered event carries its original ``event_time``, so the lookup is bounded to the batch's day
    partitions and event-time range (literals: Delta prunes partitions and skips files by their min/max
    ``event_time``). The MERGE thus reads what the batch's time span touches — about a watermark's worth of data for
    a live stream — not the whole table or day.
    """
    in_days = ", ".join(f"DATE'{d.isoformat()}'" for d in days)
    bounds = f"t.event_time >= TIMESTAMP'{min_time}' AND t.event_time <= TIMESTAMP'{max_time}'"
    (
        delta_io.delta_table(spark, silver).alias("t")
        .merge(events.transform(first_delivery_per_event).drop("_line").alias("s"),
               f"t.event_date IN ({in_days}) AND {bounds} AND t.event_id = s.event_id")
        .whenNotMatchedInsertAll()
        .execute()
    )


# --------------------------------------------------------------------------------------------------- windows --

WINDOW_KEY = ("user_id", "activity_type", "window_start")


class WindowBatch:
    """foreachBatch of the windows query: upsert the windows this batch changed.

    A replayed batch (crash after the MERGE, before the checkpoint commit) recomputes the same rows from the same
    state version, so the MERGE finds them equal and rewrites nothing."""

    def __init__(self, spark: SparkSession, windows: TableRef):
        self.spark, self.windows = spark, windows

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        batch = batch.persist()  # two actions below; the stateful plan must not run twice
        try:
            bounds = batch.agg(F.date_format(F.min("window_start"), TS_FORMAT).alias("lo"),
                               F.date_format(F.max("window_start"), TS_FORMAT).alias("hi")).first()
            if bounds["lo"] is None:  # a no-data batch that only evicted state
                return
            fault_point("stream:windows:merge")
            merge_windows(self.spark, self.windows, batch, bounds["lo"], bounds["hi"])
        finally:
            batch.unpersist()


def merge_windows(spark: SparkSession, target: TableRef, windows: DataFrame, lo: str, hi: str) -> None:
    """Insert new windows, update changed ones. The key is null-safe (an event may have no activity type) and
    bounded to the batch's window starts, so Delta skips files of older windows instead of scanning the table."""
    on = " AND ".join(f"t.{k} <=> s.{k}" for k in WINDOW_KEY)
    changed = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in windows.columns if c not in WINDOW_KEY)
    (
        delta_io.delta_table(spark, target).alias("t")
        .merge(windows.alias("s"),
               f"t.window_start >= TIMESTAMP'{lo}' AND t.window_start <= TIMESTAMP'{hi}' AND {on}")
        .whenMatchedUpdateAll(condition=changed)
        .whenNotMatchedInsertAll()
        .execute()
    )


# ---------------------------------------------------------------------------------------------------- alerts --


class AlertBatch:
    """foreachBatch of the alerts query: first goal crossing per touched (user, day), inserted once."""

    def __init__(self, spark: SparkSession, tables: StreamTables, goal: int):
        self.spark, self.tables, self.goal = spark, tables, goal

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        # A user who already has today's alert needs no recount: skipping them keeps a batch's work to the users
        # still below their goal.
        alerted = delta_io.read(self.spark, self.tables.alerts).select("user_id", F.col("date").alias("event_date"))
        touched = batch.select("user_id", "event_date").distinct().join(
            alerted, ["user_id", "event_date"], "left_anti").persist()
        try:
            days = [r[0] for r in touched.select("event_date").distinct().collect()]
            if not days:
                return
            day_events = (
                delta_io.read(self.spark, self.tables.silver)
                .where(F.col("event_date").isin(days))
                .join(touched, ["user_id", "event_date"], "left_semi")
            )
            crossings = day_events.transform(first_goal_crossings(self.goal)).withColumn(
                "alerted_at", F.current_timestamp()
            )
            fault_point("stream:alerts:merge")
            (
                delta_io.delta_table(self.spark, self.tables.alerts).alias("t")
                .merge(crossings.alias("s"), "t.user_id = s.user_id AND t.date = s.date")
                .whenNotMatchedInsertAll()
                .execute()
            )
        finally:
            touched.unpersist()


# --------------------------------------------------------------------------------------------------- queries --


def _with_trigger(writer, opts: StreamOptions):
    if opts.available_now:
        return writer.trigger(availableNow=True)
    return writer.trigger(processingTime=f"{opts.trigger_seconds:g} seconds")


def start_ingest(spark: SparkSession, settings: Settings, tables: StreamTables, opts: StreamOptions,
                 source_df: DataFrame):
    cp = checkpoint(settings, "ingest", opts.source)
    handler = IngestBatch(spark, tables, opts.source, _txn_app_id(cp))
    writer = (
        source_df.writeStream.queryName(f"fitlake_ingest_{opts.source}")
        .option("checkpointLocation", cp)
        .foreachBatch(handler)
    )
    return _with_trigger(writer, opts).start(), handler


def _silver_stream(spark: SparkSession, tables: StreamTables) -> DataFrame:
    return delta_io.read_stream(spark, tables.silver)


def start_windows(spark: SparkSession, settings: Settings, tables: StreamTables, opts: StreamOptions):
    windows = _silver_stream(spark, tables).transform(with_event_window).transform(aggregate_windows)
    writer = (
        windows.writeStream.queryName("fitlake_event_windows")
        .outputMode("update")
        .option("checkpointLocation", checkpoint(settings, "windows", opts.source))
        .foreachBatch(WindowBatch(spark, tables.windows))
    )
    return _with_trigger(writer, opts).start()


def start_alerts(spark: SparkSession, settings: Settings, tables: StreamTables, opts: StreamOptions):
    writer = (
        _silver_stream(spark, tables)
        .select("user_id", "event_date")
        .writeStream.queryName("fitlake_goal_alerts")
        .option("checkpointLocation", checkpoint(settings, "alerts", opts.source))
        .foreachBatch(AlertBatch(spark, tables, settings.step_goal))
    )
    return _with_trigger(writer, opts).start()


# ----------------------------------------------------------------------------------------------- run summary --


@dataclass
class ProgressLog:
    """Every micro-batch's progress of this run, per query (deduplicated by batch id)."""

    batches: dict[str, dict[int, dict]] = field(default_factory=dict)

    def poll(self, queries: dict[str, object]) -> None:
        for name, query in queries.items():
            seen = self.batches.setdefault(name, {})
            for p in query.recentProgress:
                progress = json.loads(p.json)
                seen.setdefault(progress["batchId"], progress)

    def input_rows(self, name: str) -> int:
        return sum(p.get("numInputRows", 0) for p in self.batches.get(name, {}).values())

    def summary(self, name: str) -> dict:
        progress = sorted(self.batches.get(name, {}).values(), key=lambda p: p["batchId"])
        durations = [p["durationMs"].get("triggerExecution", 0) for p in progress]
        with_data = [p["durationMs"].get("triggerExecution", 0) for p in progress if p.get("numInputRows", 0) > 0]
        dropped = sum(op.get("numRowsDroppedByWatermark", 0) for p in progress for op in p.get("stateOperators", []))
        watermark = next((p["eventTime"]["watermark"] for p in reversed(progress)
                          if p.get("eventTime", {}).get("watermark")), None)
        return {
            "batches": len(progress),
            "batches_with_data": len(with_data),
            "input_rows": self.input_rows(name),
            "batch_ms_p50": percentile(with_data, 50),
            "batch_ms_p95": percentile(with_data, 95),
            "batch_ms_max": max(durations, default=None),
            "rows_dropped_by_watermark": dropped,
            "watermark": watermark,
        }


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every reported latency is one a batch really had)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil(n * pct / 100)
    return float(ordered[int(rank) - 1])


def table_versions(spark: SparkSession, refs: dict[str, TableRef]) -> dict[str, int]:
    return {name: _delta_version(spark, ref) for name, ref in refs.items()}


def _delta_version(spark: SparkSession, ref: TableRef) -> int:
    if ref.path is not None:  # read the log with delta-rs: no Spark job for a number
        from deltalake import DeltaTable

        return DeltaTable(ref.path).version()
    return delta_io.delta_table(spark, ref).history(1).first()["version"]


def _commits_after(spark: SparkSession, ref: TableRef, version: int) -> list[dict]:
    if ref.path is not None:
        from deltalake import DeltaTable

        table = DeltaTable(ref.path)
        newer = table.version() - version
        return [c for c in table.history(newer) if c["version"] > version] if newer > 0 else []
    history = delta_io.delta_table(spark, ref).history().where(F.col("version") > version)
    return [r.asDict() for r in history.select("version", "operation", "operationMetrics").collect()]


def rows_added_since(spark: SparkSession, ref: TableRef, version: int) -> int:
    """Rows this run added to a table, from the Delta log's operation metrics (inserts of MERGEs, appends)."""
    total = 0
    for commit in _commits_after(spark, ref, version):
        metrics = commit.get("operationMetrics") or {}
        key = "numTargetRowsInserted" if commit.get("operation") == "MERGE" else "numOutputRows"
        total += int(metrics.get(key, 0) or 0)
    return total


# ------------------------------------------------------------------------------------------------------- run --


class _RunLock:
    """One stream job per lakehouse: the windows/alerts checkpoints are shared by both sources."""

    def __init__(self, settings: Settings):
        self.path = Path(settings.checkpoint("streaming", ".lock"))
        self.handle = None

    def __enter__(self) -> "_RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise StreamError(f"Another `fitlake stream` ({holder}) is running on this lakehouse: stop it first.")
        self.handle.truncate(0)
        self.handle.write(f"pid {os.getpid()}")
        self.handle.flush()
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def run_stream(
    spark: SparkSession,
    settings: Settings,
    opts: StreamOptions,
    stop: threading.Event | None = None,
    poll_seconds: float = 0.5,
    until: Callable[[int], bool] | None = None,
    on_started: Callable[[], None] | None = None,
) -> dict:
    """Run the three queries (available-now: one after the other; live: together until ``opts.until_*``,
    ``until(events ingested)`` or ``stop``) and return the run summary. ``on_started`` is called once the live
    queries run (the benchmark starts its event generator there)."""
    stop = stop or threading.Event()
    if opts.source == "kafka":
        check_kafka_reachable(opts.bootstrap)
    with _RunLock(settings) if settings.is_local else contextlib.nullcontext():
        source_df = read_event_source(spark, settings, opts)
        tables = ensure_stream_tables(spark, settings, opts.source, source_df)
        sinks = tables.all()
        before = table_versions(spark, sinks)
        run = _Run(spark, settings, tables, opts, source_df, stop, poll_seconds, until, on_started)
        started = time.monotonic()
        if opts.available_now:
            run.available_now()
        else:
            run.live(started)
        elapsed = time.monotonic() - started
        added = {name: rows_added_since(spark, ref, before[name]) for name, ref in sinks.items()}
    queries = {name: run.progress.summary(name) for name in QUERY_NAMES}
    handler = run.ingest_handler
    events = sum(handler.events.values()) if handler else 0
    queries["ingest"]["input_rows"] = events
    quarantined: dict[str, int] = {}
    for counts in (handler.quarantined.values() if handler else []):
        for rule, n in counts.items():
            quarantined[rule] = quarantined.get(rule, 0) + n
    return {
        "source": opts.source,
        "mode": "available-now" if opts.available_now else f"trigger {opts.trigger_seconds:g}s",
        "elapsed_s": round(elapsed, 3),
        "events_in": events,
        "events_per_s": round(events / elapsed, 1) if elapsed > 0 else None,
        "quarantined_by_rule": quarantined,
        "rows_added": added,
        "rows_dropped_by_watermark": queries["windows"]["rows_dropped_by_watermark"],
        "queries": queries,
        "stopped_by": "signal" if stop.is_set() else "done",
    }


class _Run:
    """The queries of one run and their progress."""

    def __init__(self, spark, settings, tables, opts, source_df, stop, poll_seconds, until, on_started):
        self.spark, self.settings, self.tables, self.opts, self.source_df = spark, settings, tables, opts, source_df
        self.stop, self.poll_seconds, self.until, self.on_started = stop, poll_seconds, until, on_started
        self.progress = ProgressLog()
        self.ingest_handler: IngestBatch | None = None

    def _start(self, name: str):
        if name == "ingest":
            query, self.ingest_handler = start_ingest(self.spark, self.settings, self.tables, self.opts,
                                                      self.source_df)
            return query
        start = start_windows if name == "windows" else start_alerts
        return start(self.spark, self.settings, self.tables, self.opts)

    def _await(self, queries: dict) -> None:
        """Wait for available-now queries to finish while polling progress and honouring ``stop``."""
        while any(q.isActive for q in queries.values()):
            self.progress.poll(queries)
            if self.stop.is_set():
                _stop_gracefully(queries.values())
                break
            time.sleep(self.poll_seconds)
        self.progress.poll(queries)
        _raise_failures(queries)

    def available_now(self) -> None:
        self._await({"ingest": self._start("ingest")})
        if not self.stop.is_set():
            self._await({name: self._start(name) for name in ("windows", "alerts")})

    def live(self, started: float) -> None:
        opts = self.opts
        queries = {name: self._start(name) for name in QUERY_NAMES}
        if self.on_started is not None:
            self.on_started()
        try:
            while not self.stop.is_set():
                self.progress.poll(queries)
                _raise_failures(queries)
                ingested = sum(self.ingest_handler.events.values())
                if opts.until_events is not None and ingested >= opts.until_events:
                    break
                if self.until is not None and self.until(ingested):
                    break
                if opts.until_seconds is not None and time.monotonic() - started >= opts.until_seconds:
                    break
                time.sleep(self.poll_seconds)
            # Stop reading, then let windows and alerts catch up with everything ingest wrote to silver.
            _stop_gracefully([queries["ingest"]])
            if not self.stop.is_set():
                for name in ("windows", "alerts"):
                    if queries[name].isActive:
                        queries[name].processAllAvailable()
        finally:
            _stop_gracefully(queries.values())
            self.progress.poll(queries)
        _raise_failures(queries)


def _stop_gracefully(queries, timeout: float = 60.0) -> None:
    """Let a running micro-batch finish before stopping, so a stop never leaves work for the restart to redo."""
    deadline = time.monotonic() + timeout
    for q in queries:
        while q.isActive and q.status.get("isTriggerActive") and time.monotonic() < deadline:
            time.sleep(0.1)
        q.stop()


def _raise_failures(queries: dict) -> None:
    for name, q in queries.items():
        error = q.exception()
        if error is not None:
            for other in queries.values():
                other.stop()
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise StreamError(f"The {name} stream failed: {first_line[:500]}. Fix the cause and rerun: it resumes "
                              f"from its checkpoint.") from error
