"""The streaming job: live events (files or Kafka) -> bronze -> silver -> 30 s windows + goal alerts, in ONE query.

One Structured Streaming query (checkpoint ``<root>/_checkpoints/streaming/ingest_<source>``) whose ``foreachBatch``
(``StreamBatch``) does, per micro-batch, one commit per table: append bronze (raw), append quarantine (what fails an
expectation, incl. the event-time floor/ceiling of ``time_rules``), MERGE the batch's window increments into
``gold.event_windows`` (30 s tumbling windows, 1-minute watermark computed from the stream's own high mark in
``state.py``: an event whose window is already final is dropped from the windows and counted), MERGE per (user, day)
step increments into the running totals ``gold.event_daily_steps``, insert-only MERGE the goal crossings of the
(user, day)s whose total reached the goal into ``gold.goal_alerts``, and last append the new events to
``silver.events``. The batch's processing time and watermark are pinned in a plan file, so a batch replayed after a
crash decides every row as before and commits nothing twice: its MERGEs carry Delta's idempotent-write marker
(checkpoint-born app id, batch id), its bronze and quarantine appends are skipped when the table holds the batch's
own rows, and silver receives only events new against it (``batch.StreamBatch``). Optionally the alerts are published to Kafka (``alerts_out``).
"""


from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from fitlake import delta_io
from fitlake.config import Settings
from fitlake.locks import file_lock
from fitlake.ops.suppress import stream_suppression
from fitlake.spark import INTERPRETED, session_conf
from fitlake.streaming.alerts_out import AlertPublisher
from fitlake.streaming.batch import StreamBatch
from fitlake.streaming.options import SOURCES, StreamError, StreamOptions
from fitlake.streaming.progress import ProgressLog, percentile, rows_added_since, table_versions
from fitlake.streaming.sinks import StreamTables, ensure_stream_tables
from fitlake.streaming.sources import check_kafka_reachable, landing_stager, read_event_source
from fitlake.streaming.state import StreamState

# The modules of the job, by seam: options (what a run is asked), sources (files / Kafka in), sinks (the tables and
# their MERGEs), batch (one micro-batch), progress (the run summary); this module starts, watches and stops the query.
__all__ = ["SOURCES", "QUERY_NAMES", "WATERMARK", "StreamBatch", "StreamError", "StreamOptions", "StreamTables",
           "checkpoint", "ensure_stream_tables", "percentile", "run_stream", "start_stream"]

QUERY_NAMES = ("ingest",)  # the one query; its batches do windows and alerts too
WATERMARK = dt.timedelta(minutes=1)  # == schema.WATERMARK_DELAY


def checkpoint(settings: Settings, source: str) -> str:
    """The query's checkpoint, one per source (files and Kafka have different offsets)."""
    return settings.checkpoint("streaming", f"ingest_{source}")


def _txn_app_id(checkpoint_dir: str) -> str:
    """The id of the query's idempotent writes, in ``<checkpoint>/_fitlake_txn_app_id`` (``delta_io.txn_app_id``)."""
    return delta_io.txn_app_id(Path(checkpoint_dir) / "_fitlake_txn_app_id", "fitlake-stream")


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


# A micro-batch compiles nothing worth keeping: its plans carry the batch's own constants (processing time, batch id,
# event-time bounds, watermark), which Spark inlines into the Java it generates, so whole-stage code generation
# compiled ~116-160 new classes per batch (Janino, then the JVM's JIT) and never reused one.
# benchmarks/stream_profile.py, 2 batches of 40 k events: process tree CPU 18.6-21.2 s -> 9.0-13.2 s per batch, task
# CPU 5.2-5.7 s -> 4.5-4.6 s (interpreting costs nothing here: the rows are text). Local sessions only (a cluster
# or serverless keeps its own engine settings).
# And one partition per shuffle and per Delta state rebuild: a batch's shuffles carry its own events (thousands to
# ~100 k rows), which one task takes in less CPU than four tasks scheduled, and silver gets one file per batch, not
# four. benchmarks/results/stream-profile-2026-11-30-s16.md: batches of ~40 k events 53.7/45.0 -> 43.7/42.8 s of
# process CPU for 3 batches (task CPU 4.6-6.1 -> 3.8-5.3 s a batch); batches of 5 k: within the noise. Spark keeps a
# query's shuffle partitions in its checkpoint, so a checkpoint started before keeps its number for the batch's own
# frames (the MERGEs and reads follow the session).
# And no filters inferred from the line split: a landing file is read whole and split into lines (bronze's parser,
# ``posexplode``), and Spark's InferFiltersFromGenerate adds ``size(lines) > 0 AND lines IS NOT NULL`` before the
# split, which interpreted and without shared subexpressions splits every file's text three times instead of once (a
# file that splits into no line yields no row either way). benchmarks/stream_profile.py, 2 batches of 80 k events,
# alternating: the stats job's task CPU (read, parse, check) 2.33-2.47 -> 1.81-1.82 s in the second batch, process
# CPU 21.86-22.12 -> 21.05-21.28 s.
STREAM_CONF = {**INTERPRETED, "spark.sql.shuffle.partitions": "1", "spark.databricks.delta.snapshotPartitions": "1",
               "spark.sql.optimizer.excludedRules": "org.apache.spark.sql.catalyst.optimizer.InferFiltersFromGenerate"}


@contextlib.contextmanager
def _stream_conf(spark: SparkSession, settings: Settings):
    """The session runs the stream with ``STREAM_CONF`` (restored after: tests and the bench share the session)."""
    if not settings.is_local:
        yield
        return
    with session_conf(spark, STREAM_CONF):
        yield


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
    with _run_lock(settings) if settings.is_local else contextlib.nullcontext(), _stream_conf(spark, settings):
        stager = landing_stager(settings, opts, checkpoint(settings, opts.source))  # local files: fitlake lists
        if stager is not None:
            stager.stage()
        source_df = read_event_source(spark, settings, opts, stager)
        tables = ensure_stream_tables(spark, settings, opts.source, source_df)
        publisher = None
        if opts.alerts_topic:
            bootstrap = opts.alerts_bootstrap or opts.bootstrap
            check_kafka_reachable(bootstrap)
            publisher = AlertPublisher(bootstrap, opts.alerts_topic, tables.alerts.path or tables.alerts.full_name)
        sinks = tables.all()
        before = table_versions(spark, sinks)
        run = _Run(spark, settings, tables, opts, source_df, stop, poll_seconds, until, on_started, publisher)
        run.stager = stager
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
        "landing_skipped": stager.report() if stager is not None else [],
        "watermark": queries["ingest"]["watermark"],
        "step_ms_p95": {s: percentile([t[s] for t in handler.timings.values() if s in t], 95) for s in steps},
        "spark_jobs_per_batch": dict(sorted(handler.spark_jobs.items())) if handler else {},
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
        self.stager = None  # live mode: stages new landing files while the query runs

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
                if self.stager is not None:
                    self.stager.stage()
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
