"""The streaming job: live events (files or Kafka) -> bronze -> silver -> 30 s windows + goal alerts, in ONE query.

One Structured Streaming query (checkpoint ``<root>/_checkpoints/streaming/ingest_<source>``) whose ``foreachBatch``
(``StreamBatch``) does, per micro-batch, one commit per table: append bronze (raw), append quarantine (what fails an
expectation, incl. the event-time floor/ceiling of ``time_rules``), MERGE the batch's window increments into
``gold.event_windows`` (30 s tumbling windows, 1-minute watermark computed from the stream's own high mark in
``state.py``: an event whose window is already final is dropped from the windows and counted), MERGE per (user, day)
step increments into the running totals ``gold.event_daily_steps``, insert-only MERGE the goal crossings of the
(user, day)s whose total reached the goal into ``gold.goal_alerts``, and last append the new events to
``silver.events``. Every write carries Delta's idempotent-write marker (checkpoint-born app id, batch id) and the
batch's processing time and watermark are pinned in a plan file, so a batch replayed after a crash commits nothing
twice and decides every row as before. Optionally the alerts are published to Kafka (``alerts_out``).
"""


from __future__ import annotations

import contextlib
import datetime as dt
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
from fitlake.bronze.writer import ensure_bronze_table
from fitlake.bronze.parse import META_COLUMNS as BRONZE_META_COLUMNS
from fitlake.ops.suppress import stream_suppression
from fitlake.config import Settings, TableRef
from fitlake.faults import fault_point
from fitlake.locks import file_lock
from fitlake.streaming.alerts_out import AlertPublisher
from fitlake.streaming.schema import (
    BRONZE_KAFKA_SCHEMA,
    DAILY_STEPS_SCHEMA,
    DEFAULT_TOPIC,
    EVENT_WINDOWS_SCHEMA,
    GOAL_ALERTS_SCHEMA,
    SILVER_EVENTS_SCHEMA,
    quarantine_schema,
)
from fitlake.streaming.state import BatchPlan, StreamState
from fitlake.streaming.transforms import (
    daily_step_totals,
    first_delivery_per_event,
    first_goal_crossings,
    flag_late,
    parse_event_json,
    to_silver_events,
    window_increments,
    with_event_rule,
)

log = logging.getLogger("fitlake.streaming")

SOURCES = ("files", "kafka")
TS_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"  # a timestamp literal in the session time zone (UTC), exact to the µs
QUERY_NAMES = ("ingest",)  # the one query; its batches do windows and alerts too
WATERMARK = dt.timedelta(minutes=1)  # == schema.WATERMARK_DELAY


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
    alerts_topic: str | None = None  # publish goal alerts to this Kafka topic (exactly once per alert)
    alerts_bootstrap: str | None = None  # its brokers (default: ``bootstrap``)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise StreamError(f"Unknown source {self.source!r}: choose one of {', '.join(SOURCES)}.")
        if self.source == "kafka" and not self.bootstrap:
            raise StreamError("--source kafka needs --bootstrap HOST:PORT (e.g. the broker of `make kafka`).")
        if self.alerts_topic and not (self.alerts_bootstrap or self.bootstrap):
            raise StreamError("--alerts-topic needs --alerts-bootstrap HOST:PORT (or --bootstrap).")


# ---------------------------------------------------------------------------------------------------- tables --


@dataclass(frozen=True)
class StreamTables:
    bronze: TableRef
    quarantine: TableRef
    silver: TableRef
    windows: TableRef
    alerts: TableRef
    daily: TableRef

    @classmethod
    def of(cls, settings: Settings, source: str) -> "StreamTables":
        bronze_name = "events" if source == "files" else "events_kafka"
        return cls(
            bronze=settings.table("bronze", bronze_name),
            quarantine=settings.table("quarantine", bronze_name),
            silver=settings.table("silver", "events"),
            windows=settings.table("gold", "event_windows"),
            alerts=settings.table("gold", "goal_alerts"),
            daily=settings.table("gold", "event_daily_steps"),
        )

    def all(self) -> dict[str, TableRef]:
        refs = (self.bronze, self.quarantine, self.silver, self.windows, self.alerts, self.daily)
        return {r.full_name: r for r in refs}


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
    _add_missing_columns(spark, tables.windows, EVENT_WINDOWS_SCHEMA)
    delta_io.ensure_table(spark, tables.alerts, GOAL_ALERTS_SCHEMA)
    if not delta_io.exists(spark, tables.daily):
        # Born from silver in one commit, so a lakehouse streamed before this table existed starts from the right
        # totals (an empty silver makes an empty table); a kill before the commit leaves no table, and the next run
        # does it again.
        totals = delta_io.read(spark, tables.silver).transform(daily_step_totals)
        delta_io.write(totals.select(*[F.col(f.name).cast(f.dataType) for f in DAILY_STEPS_SCHEMA.fields]),
                       tables.daily)
    return tables


def _add_missing_columns(spark: SparkSession, ref: TableRef, schema) -> None:
    """A table made by an older version of the job gets the columns added since (null in its old rows)."""
    have = set(delta_io.read(spark, ref).columns)
    missing = [f for f in schema.fields if f.name not in have]
    if missing:
        ident = f"delta.`{ref.path}`" if ref.path is not None else ref.full_name
        spark.sql(f"ALTER TABLE {ident} ADD COLUMNS ("
                  + ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in missing) + ")")


def checkpoint(settings: Settings, source: str) -> str:
    """The query's checkpoint, one per source (files and Kafka have different offsets)."""
    return settings.checkpoint("streaming", f"ingest_{source}")


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
    delta_io.append_once(df, ref, app_id, batch_id)


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


@contextlib.contextmanager
def _timed(timings: dict[str, float], step: str):
    started = time.monotonic()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + (time.monotonic() - started) * 1000


class StreamBatch:
    """foreachBatch of the one streaming query: bronze, quarantine, windows, daily totals, alerts, silver.

    One commit per table per micro-batch, in this order, each guarded by Delta's idempotent-write marker
    (``txnAppId`` = an id born with the checkpoint, ``txnVersion`` = the batch id), so a replayed batch skips every
    write that committed. Silver goes LAST: what is new in a batch is decided against silver, and as long as this
    batch's silver append has not committed, silver is exactly what it was before the batch; once it has, every
    other write of the batch has committed too. The processing time and the watermark come from the batch's pinned
    plan (``fitlake.streaming.state``), so a replay decides every row exactly as the first attempt did.
    """

    def __init__(self, spark: SparkSession, tables: StreamTables, source: str, app_id: str, state: StreamState,
                 goal: int, publisher: AlertPublisher | None = None):
        self.spark, self.tables, self.source, self.app_id = spark, tables, source, app_id
        self.state, self.goal, self.publisher = state, goal, publisher
        self.suppression: Callable[[], Callable[[DataFrame], DataFrame]] = lambda: (lambda df: df)
        self.bronze_columns = delta_io.read(spark, tables.bronze).columns
        self.quarantine_columns = delta_io.read(spark, tables.quarantine).columns
        # What this process did, per batch id (a replayed batch overwrites its own entry, never adds).
        self.events: dict[int, int] = {}
        self.quarantined: dict[int, dict[str, int]] = {}
        self.late: dict[int, int] = {}
        self.timings: dict[int, dict[str, float]] = {}

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        timings: dict[str, float] = {}
        self.timings[batch_id] = timings
        with _timed(timings, "total"):
            self._run(batch, batch_id, timings)

    def _run(self, batch: DataFrame, batch_id: int, timings: dict[str, float]) -> None:
        plan = self.state.plan(batch_id)
        now = F.lit(plan.now).cast("timestamp")
        if self.source == "kafka":
            batch = kafka_bronze_rows(batch)
        batch = batch.transform(self.suppression())  # erased users (fitlake forget) are not ingested again
        bronze = batch.withColumn("_ingested_at", now).withColumn("_batch_id", F.lit(batch_id).cast("bigint"))
        bronze = bronze.select(*[c for c in self.bronze_columns if c in bronze.columns]).persist()
        new = None
        try:
            events = bronze.transform(kafka_events) if self.source == "kafka" else bronze
            checked = with_event_rule(events, now)
            # One small job for every count we report and the bounds of the silver lookup.
            event_time = F.when(F.col("_rule").isNull(), F.col("event_time").try_cast("timestamp"))
            with _timed(timings, "stats"):
                stats = checked.groupBy("_rule").agg(
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
            fault_point("stream:ingest:bronze")
            with _timed(timings, "bronze"):
                _append(bronze, self.tables.bronze, self.app_id, batch_id)
            if self.quarantined[batch_id]:
                fault_point("stream:ingest:quarantine")
                quarantined = checked.where(F.col("_rule").isNotNull()).select(
                    *[c for c in self.quarantine_columns if c in bronze.columns], "_rule",
                    now.alias("_quarantined_at"),
                )
                with _timed(timings, "quarantine"):
                    _append(quarantined, self.tables.quarantine, self.app_id, batch_id)
            if valid_stats is not None:
                days = sorted(valid_stats["days"])
                lo, hi = valid_stats["min_time"], valid_stats["max_time"]
                valid = checked.where(F.col("_rule").isNull()).drop("_rule")
                with _timed(timings, "new_events"):
                    new = (new_events(self.spark, self.tables.silver, valid.transform(to_silver_events(self.source)),
                                      days, lo, hi)
                           .transform(flag_late(plan.watermark)).persist())
                    counts = new.agg(F.count(F.lit(1)).alias("n"),
                                     F.count(F.when(F.col("_late"), 1)).alias("late")).first()
                self.late[batch_id] = counts["late"]
                if counts["n"]:
                    self._gold(new, batch_id, plan, days, lo, hi, timings)
                    fault_point("stream:ingest:silver")
                    with _timed(timings, "silver"):
                        _append(new.drop("_late", "_line"), self.tables.silver, self.app_id, batch_id)
            self.state.finish(batch_id, valid_stats["max_time"] if valid_stats is not None else None)
            fault_point("stream:ingest:done")
            if self.publisher is not None and timings.get("alerts"):
                with _timed(timings, "publish"):
                    self.publisher.publish(self.spark, self.tables.alerts)
        finally:
            bronze.unpersist()
            if new is not None:
                new.unpersist()

    def _gold(self, new: DataFrame, batch_id: int, plan: BatchPlan, days: list[dt.date], lo: str, hi: str,
              timings: dict[str, float]) -> None:
        """The batch's new events into the windows, the daily totals and (when a total reaches the goal) alerts."""
        on_time = new.where(~F.col("_late"))
        fault_point("stream:windows:merge")
        with _timed(timings, "windows"), delta_io.txn_guard(self.spark, self.app_id, batch_id):
            merge_windows(self.spark, self.tables.windows, on_time.transform(window_increments), lo, hi)
        fault_point("stream:daily:merge")
        with _timed(timings, "daily"), delta_io.txn_guard(self.spark, self.app_id, batch_id):
            merge_daily_steps(self.spark, self.tables.daily, new.transform(daily_step_totals), days)
        with _timed(timings, "alerts_check"):
            due = alerts_due(self.spark, self.tables, new, days, self.goal)
        if due.isEmpty():
            return
        crossings = crossings_of(self.spark, self.tables.silver, new, due, days, self.goal, plan.now)
        fault_point("stream:alerts:merge")
        with _timed(timings, "alerts"), delta_io.txn_guard(self.spark, self.app_id, batch_id):
            (
                delta_io.delta_table(self.spark, self.tables.alerts).alias("t")
                .merge(crossings.alias("s"), "t.user_id = s.user_id AND t.date = s.date")
                .whenNotMatchedInsertAll()
                .execute()
            )


def new_events(spark: SparkSession, silver: TableRef, events: DataFrame, days: list[dt.date], min_time: str,
               max_time: str) -> DataFrame:
    """The batch's typed events whose ``event_id`` silver has not seen (first delivery within the batch).

    A re-delivered event carries its original ``event_time``, so the lookup is bounded to the batch's day partitions
    and event-time range (literals: Delta prunes partitions and skips files by their min/max ``event_time``) — about
    a watermark's worth of data for a live stream, not the whole table."""
    seen = (
        delta_io.read(spark, silver)
        .where(F.col("event_date").isin(days))
        .where(F.col("event_time").between(F.lit(min_time).cast("timestamp"), F.lit(max_time).cast("timestamp")))
        .select("event_id")
    )
    return events.transform(first_delivery_per_event).join(seen, "event_id", "left_anti")


# --------------------------------------------------------------------------------------------------- windows --

WINDOW_KEY = ("user_id", "activity_type", "window_start")


def _plus(c: str) -> str:
    return f"CASE WHEN t.{c} IS NULL THEN s.{c} WHEN s.{c} IS NULL THEN t.{c} ELSE t.{c} + s.{c} END"


def merge_windows(spark: SparkSession, target: TableRef, increments: DataFrame, lo: str, hi: str) -> None:
    """Add a batch's window increments to ``gold.event_windows`` (insert new windows). The key is null-safe (an event
    may have no activity type) and bounded to the batch's event-time span, so Delta skips files of older windows."""
    on = " AND ".join(f"t.{k} <=> s.{k}" for k in WINDOW_KEY)
    readings = "coalesce(t.heart_rate_readings, 0) + coalesce(s.heart_rate_readings, 0)"
    hr_sum = "coalesce(t.heart_rate_sum, 0) + coalesce(s.heart_rate_sum, 0)"
    (
        delta_io.delta_table(spark, target).alias("t")
        .merge(increments.alias("s"),
               f"t.window_start >= TIMESTAMP'{lo}' - INTERVAL 30 SECONDS AND t.window_start <= TIMESTAMP'{hi}' "
               f"AND {on}")
        .whenMatchedUpdate(set={
            "steps": _plus("steps"),
            "calories": _plus("calories"),
            "avg_heart_rate": f"({hr_sum}) / nullif({readings}, 0)",
            "max_heart_rate": "greatest(t.max_heart_rate, s.max_heart_rate)",
            "event_count": "t.event_count + s.event_count",
            "heart_rate_readings": readings,
            "heart_rate_sum": hr_sum,
        })
        .whenNotMatchedInsertAll()
        .execute()
    )


# ---------------------------------------------------------------------------------------------------- alerts --


def merge_daily_steps(spark: SparkSession, target: TableRef, increments: DataFrame, days: list[dt.date]) -> None:
    """Add a batch's per (user, day) steps and events to the running daily totals."""
    in_days = ", ".join(f"DATE'{d.isoformat()}'" for d in days)
    (
        delta_io.delta_table(spark, target).alias("t")
        .merge(increments.alias("s"), f"t.date IN ({in_days}) AND t.user_id = s.user_id AND t.date = s.date")
        .whenMatchedUpdate(set={"steps": "t.steps + s.steps", "event_count": "t.event_count + s.event_count"})
        .whenNotMatchedInsertAll()
        .execute()
    )


def alerts_due(spark: SparkSession, tables: StreamTables, new: DataFrame, days: list[dt.date],
               goal: int) -> DataFrame:
    """(user_id, event_date) the batch touched whose running total has reached ``goal`` and that have no alert."""
    touched = new.select("user_id", F.col("event_date").alias("date")).distinct()
    reached = delta_io.read(spark, tables.daily).where(F.col("date").isin(days)).where(F.col("steps") >= goal)
    alerted = delta_io.read(spark, tables.alerts).where(F.col("date").isin(days)).select("user_id", "date")
    return (touched.join(reached.select("user_id", "date"), ["user_id", "date"], "left_semi")
            .join(alerted, ["user_id", "date"], "left_anti")
            .withColumnRenamed("date", "event_date"))


def crossings_of(spark: SparkSession, silver: TableRef, new: DataFrame, due: DataFrame, days: list[dt.date],
                 goal: int, now: str) -> DataFrame:
    """The first event at which each due (user, day)'s running total reaches ``goal``, in event-time order: the day's
    events from silver (as before this batch: silver is written last) plus the batch's new ones. Read once per
    alert, when it fires — never for users still below their goal."""
    cols = ["user_id", "event_date", "event_time", "event_id", "steps"]
    before = delta_io.read(spark, silver).where(F.col("event_date").isin(days)).select(*cols)
    day_events = before.unionByName(new.select(*cols)).join(due, ["user_id", "event_date"], "left_semi")
    return day_events.transform(first_goal_crossings(goal)).withColumn(
        "alerted_at", F.lit(now).cast("timestamp"))


# --------------------------------------------------------------------------------------------------- queries --


def _with_trigger(writer, opts: StreamOptions):
    if opts.available_now:
        return writer.trigger(availableNow=True)
    return writer.trigger(processingTime=f"{opts.trigger_seconds:g} seconds")


def start_stream(spark: SparkSession, settings: Settings, tables: StreamTables, opts: StreamOptions,
                 source_df: DataFrame, publisher: AlertPublisher | None = None):
    cp = checkpoint(settings, opts.source)
    handler = StreamBatch(spark, tables, opts.source, _txn_app_id(cp), StreamState(cp, WATERMARK),
                          settings.step_goal, publisher)
    handler.suppression = lambda: stream_suppression(spark, settings, opts.source)
    writer = (
        source_df.writeStream.queryName(f"fitlake_stream_{opts.source}")
        .option("checkpointLocation", cp)
        .foreachBatch(handler)
    )
    return _with_trigger(writer, opts).start(), handler


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


def _run_lock(settings: Settings):
    """One stream job per lakehouse: both sources write the same silver, windows, totals and alerts."""
    return file_lock(Path(settings.checkpoint("streaming", ".lock")), 0, lambda holder: StreamError(
        f"Another `fitlake stream` ({holder}) is running on this lakehouse: stop it first."))


def run_stream(
    spark: SparkSession,
    settings: Settings,
    opts: StreamOptions,
    stop: threading.Event | None = None,
    poll_seconds: float = 0.5,
    until: Callable[[int], bool] | None = None,
    on_started: Callable[[], None] | None = None,
) -> dict:
    """Run the query (available-now: until the input is drained; live: until ``opts.until_*``,
    ``until(events ingested)`` or ``stop``) and return the run summary. ``on_started`` is called once the live
    query runs (the benchmark starts its event generator there)."""
    stop = stop or threading.Event()
    if opts.source == "kafka":
        check_kafka_reachable(opts.bootstrap)
    with _run_lock(settings) if settings.is_local else contextlib.nullcontext():
        source_df = read_event_source(spark, settings, opts)
        tables = ensure_stream_tables(spark, settings, opts.source, source_df)
        publisher = None
        if opts.alerts_topic:
            bootstrap = opts.alerts_bootstrap or opts.bootstrap
            check_kafka_reachable(bootstrap)
            publisher = AlertPublisher(bootstrap, opts.alerts_topic, tables.alerts.path or tables.alerts.full_name)
        sinks = tables.all()
        before = table_versions(spark, sinks)
        run = _Run(spark, settings, tables, opts, source_df, stop, poll_seconds, until, on_started, publisher)
        started = time.monotonic()
        try:
            if publisher is not None:  # alerts a killed run committed but did not publish
                _publish(publisher, spark, tables)
            if opts.available_now:
                run.available_now()
            else:
                run.live(started)
            if publisher is not None and not stop.is_set():
                _publish(publisher, spark, tables)
        finally:
            if publisher is not None:
                publisher.close()
        elapsed = time.monotonic() - started
        added = {name: rows_added_since(spark, ref, before[name]) for name, ref in sinks.items()}
        handler = run.handler
        watermark = handler.state.watermark() if handler else None
    queries = {name: run.progress.summary(name) for name in QUERY_NAMES}
    events = sum(handler.events.values()) if handler else 0
    queries["ingest"]["input_rows"] = events
    queries["ingest"]["watermark"] = (dt.datetime.strptime(watermark, "%Y-%m-%d %H:%M:%S.%f")
                                      .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z") if watermark else None
    quarantined: dict[str, int] = {}
    for counts in (handler.quarantined.values() if handler else []):
        for rule, n in counts.items():
            quarantined[rule] = quarantined.get(rule, 0) + n
    steps = sorted({s for t in (handler.timings.values() if handler else []) for s in t})
    return {
        "source": opts.source,
        "mode": "available-now" if opts.available_now else f"trigger {opts.trigger_seconds:g}s",
        "elapsed_s": round(elapsed, 3),
        "events_in": events,
        "events_per_s": round(events / elapsed, 1) if elapsed > 0 else None,
        "quarantined_by_rule": quarantined,
        "rows_added": added,
        "rows_dropped_by_watermark": sum(handler.late.values()) if handler else 0,
        "watermark": queries["ingest"]["watermark"],
        "step_ms_p95": {s: percentile([t[s] for t in handler.timings.values() if s in t], 95) for s in steps},
        "alerts_published": (
            {"to": publisher.where, "published": publisher.published} if publisher is not None
            else {"to": f"{tables.alerts.full_name} only (no --alerts-topic)", "published": 0}
        ),
        "queries": queries,
        "stopped_by": "signal" if stop.is_set() else "done",
    }


def _publish(publisher: AlertPublisher, spark: SparkSession, tables: StreamTables) -> None:
    from fitlake.streaming.alerts_out import PublishError

    try:
        publisher.publish(spark, tables.alerts)
    except PublishError as e:
        raise StreamError(f"{e}. The alerts stay in {tables.alerts.full_name}; rerun to publish them.") from e


class _Run:
    """The query of one run and its progress."""

    def __init__(self, spark, settings, tables, opts, source_df, stop, poll_seconds, until, on_started, publisher):
        self.spark, self.settings, self.tables, self.opts, self.source_df = spark, settings, tables, opts, source_df
        self.stop, self.poll_seconds, self.until, self.on_started = stop, poll_seconds, until, on_started
        self.publisher = publisher
        self.progress = ProgressLog()
        self.handler: StreamBatch | None = None

    def _start(self):
        query, self.handler = start_stream(self.spark, self.settings, self.tables, self.opts, self.source_df,
                                           self.publisher)
        return {"ingest": query}

    def available_now(self) -> None:
        queries = self._start()
        while any(q.isActive for q in queries.values()):
            self.progress.poll(queries)
            if self.stop.is_set():
                _stop_gracefully(queries.values())
                break
            time.sleep(self.poll_seconds)
        self.progress.poll(queries)
        _raise_failures(queries)

    def live(self, started: float) -> None:
        opts = self.opts
        queries = self._start()
        if self.on_started is not None:
            self.on_started()
        try:
            while not self.stop.is_set():
                self.progress.poll(queries)
                _raise_failures(queries)
                ingested = sum(self.handler.events.values())
                if opts.until_events is not None and ingested >= opts.until_events:
                    break
                if self.until is not None and self.until(ingested):
                    break
                if opts.until_seconds is not None and time.monotonic() - started >= opts.until_seconds:
                    break
                time.sleep(self.poll_seconds)
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
