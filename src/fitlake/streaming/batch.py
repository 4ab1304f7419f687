"""One micro-batch of the streaming query (``StreamBatch``, its ``foreachBatch``): bronze, quarantine, windows,
daily totals, alerts and silver, one idempotent commit per table."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.concurrency import Background
from fitlake.faults import fault_point
from fitlake.streaming.alerts_out import AlertPublisher
from fitlake.streaming.sinks import (
    StreamTables,
    alerts_due,
    crossings_of,
    due_frame,
    insert_goal_alerts,
    merge_event_daily_steps,
    merge_event_windows,
    new_events,
    reaching_goal,
    small_merge,
)
from fitlake.streaming.sources import kafka_bronze_rows, kafka_events
from fitlake.streaming.state import BatchPlan, StreamState
from fitlake.streaming.transforms import (
    daily_step_totals_with_late,
    flag_late,
    to_silver_events,
    window_increments,
    with_event_rule,
)

SPANS_KEPT = 1000  # batches whose step spans (for benchmarks/stream_profile.py) a handler keeps
TS_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"  # a timestamp literal in the session time zone (UTC), exact to the µs


@contextlib.contextmanager
def _timed(timings: dict[str, float], step: str, spans: list | None = None):
    started, at = time.monotonic(), time.time()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + (time.monotonic() - started) * 1000
        if spans is not None:  # epoch spans: the profiler gives each Spark job and Delta commit to its step
            spans.append((step, at, time.time()))


def _detached(df: DataFrame) -> DataFrame:
    """``df`` as its own rows, kept by the first job that reads it (a lazy local checkpoint), instead of a cache of
    its plan. Every plan built on a cached frame still holds the frame's plan, and Delta plans each Delta scan in it
    again: with the batch's new events cached, silver's files were filtered once more (a Spark job each) for both
    phases of the windows MERGE, for the silver append, and twice when that append re-cached every frame reading
    silver. Detached, nothing built on the new events reads silver, nor can a lost block be recomputed against a
    silver that moved on."""
    return df.localCheckpoint(eager=False)


def _release(df: DataFrame) -> None:
    """Drop the rows a ``_detached`` frame keeps (a local checkpoint is not in the cache ``unpersist`` empties)."""
    jdf = getattr(df, "_jdf", None)
    if jdf is None:  # Spark Connect: the server drops a checkpoint once its DataFrame is gone
        return
    plan = jdf.queryExecution().logical()
    if plan.getClass().getSimpleName() == "LogicalRDD":
        plan.rdd().unpersist(False)
    else:
        df.unpersist()


class StreamBatch:
    """foreachBatch of the one streaming query: bronze, quarantine, windows, daily totals, alerts, silver.

    One commit per table per micro-batch, in this order; a replayed batch skips every write that committed.
    Bronze and quarantine append plainly (Delta's idempotent-write guard reads the table's whole state, Spark jobs
    on every append); a replay (its plan was already there) first looks for the batch's own rows (its batch id and
    pinned processing time) and appends only where they are missing. The MERGEs of windows, daily totals and alerts
    carry Delta's marker (``txnAppId`` = an id born with the checkpoint, ``txnVersion`` = the batch id). Silver
    goes LAST and needs neither: what is new in a batch is decided against silver, so as long as this batch's
    silver append has not committed, silver is exactly what it was before the batch; once it has, a replay finds
    nothing new and every other write of the batch has committed too. The processing time and the watermark come
    from the batch's pinned plan (``fitlake.streaming.state``), so a replay decides every row exactly as the first
    attempt did.
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
        self.spans: dict[int, list[tuple[str, float, float]]] = {}  # per batch: (step, epoch start, epoch end)
        self.spark_jobs: dict[int, int] = {}  # Spark jobs each batch ran (a count that does not depend on load)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        timings: dict[str, float] = {}
        self.timings[batch_id] = timings
        self.spans[batch_id] = []
        self.spans.pop(batch_id - SPANS_KEPT, None)  # a continuous stream keeps the spans of its last batches only
        before = self._job_ids()
        try:
            with self._step(batch_id, "total"):
                self._run(batch, batch_id)
        finally:
            after = self._job_ids()
            if before is not None and after is not None:
                self.spark_jobs[batch_id] = len(after - before)

    def _job_ids(self) -> set[int] | None:
        """Ids of the Spark jobs of the query's job group (its run id: every job of a batch) so far; None where the
        session has no SparkContext to ask (Spark Connect) — the count is a diagnostic, never a reason to fail."""
        try:
            sc = self.spark.sparkContext
            group = sc.getLocalProperty("spark.jobGroup.id")
            return set(sc.statusTracker().getJobIdsForGroup(group)) if group else None
        except Exception:
            return None

    def _step(self, batch_id: int, step: str):
        return _timed(self.timings[batch_id], step, self.spans[batch_id])

    def _run(self, batch: DataFrame, batch_id: int) -> None:
        plan = self.state.plan(batch_id)
        now = F.lit(plan.now).cast("timestamp")
        if self.source == "kafka":
            batch = kafka_bronze_rows(batch)
        batch = batch.transform(self.suppression())  # erased users (fitlake forget) are not ingested again
        bronze = batch.withColumn("_ingested_at", now).withColumn("_batch_id", F.lit(batch_id).cast("bigint"))
        # The source is read (and parsed) once: the stats job fills this cache and every write reads from it.
        bronze = bronze.select(*[c for c in self.bronze_columns if c in bronze.columns]).persist()
        new = None
        try:
            events = bronze.transform(kafka_events) if self.source == "kafka" else bronze
            checked = with_event_rule(events, now)
            # One small job for every count we report and the bounds of the silver lookup.
            event_time = F.when(F.col("_rule").isNull(), F.col("event_time").try_cast("timestamp"))
            with self._step(batch_id, "stats"):
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
            # Bronze and quarantine do not wait for the rest: they append while the batch's new events are looked
            # up and the gold MERGEs run (the driver plans and commits one write while the executor runs another's
            # tasks); silver, last, waits for them.
            raw = Background(lambda: self._raw(bronze, checked, batch_id, now, plan.replay))
            try:
                if valid_stats is not None:
                    days = sorted(valid_stats["days"])
                    lo, hi = valid_stats["min_time"], valid_stats["max_time"]
                    valid = checked.where(F.col("_rule").isNull()).drop("_rule")
                    with self._step(batch_id, "new_events"):
                        new = (new_events(self.spark, self.tables.silver,
                                          valid.transform(to_silver_events(self.source)), days, lo, hi)
                               .transform(flag_late(plan.watermark)))
                        new = _detached(new)
                        # The job that computes and keeps the new events also gives the per (user, day) increments
                        # of the daily totals (a few hundred rows at most) and the counts we report.
                        daily = new.transform(daily_step_totals_with_late).collect()
                    self.late[batch_id] = sum(r["late"] for r in daily)
                    if daily:
                        self._gold(new, daily, batch_id, plan, days, lo, hi)
                        raw.join()
                        fault_point("stream:ingest:silver")
                        with self._step(batch_id, "silver"):  # new events only: a replay finds none
                            delta_io.append_once(new.drop("_late", "_line"), self.tables.silver, None, batch_id)
            finally:
                raw.join()
            self.state.finish(batch_id, valid_stats["max_time"] if valid_stats is not None else None)
            fault_point("stream:ingest:done")
            if self.publisher is not None and self.timings[batch_id].get("alerts"):
                with self._step(batch_id, "publish"):
                    self.publisher.publish(self.spark, self.tables.alerts)
        finally:
            bronze.unpersist()
            if new is not None:
                _release(new)

    def _holds(self, ref, batch_id: int, stamp: str, now) -> bool:
        """``ref`` holds rows of this batch: its batch id and pinned processing time in ``stamp``."""
        rows = delta_io.read(self.spark, ref)
        if "_batch_id" in rows.columns:
            rows = rows.where(F.col("_batch_id") == batch_id)
        return not rows.where(F.col(stamp) == now).isEmpty()

    def _raw(self, bronze: DataFrame, checked: DataFrame, batch_id: int, now, replay: bool) -> None:
        """The batch's raw rows into bronze, and those that fail a rule into quarantine (when there are any);
        ``replay``: each only when the table does not hold the batch's rows yet (an append commits all or none)."""
        fault_point("stream:ingest:bronze")
        with self._step(batch_id, "bronze"):
            if not (replay and self._holds(self.tables.bronze, batch_id, "_ingested_at", now)):
                delta_io.append_once(bronze, self.tables.bronze, None, batch_id)
        if self.quarantined[batch_id]:
            fault_point("stream:ingest:quarantine")
            quarantined = checked.where(F.col("_rule").isNotNull()).select(
                *[c for c in self.quarantine_columns if c in bronze.columns], "_rule",
                now.alias("_quarantined_at"),
            )
            with self._step(batch_id, "quarantine"):
                if not (replay and self._holds(self.tables.quarantine, batch_id, "_quarantined_at", now)):
                    delta_io.append_once(quarantined, self.tables.quarantine, None, batch_id)

    def _gold(self, new: DataFrame, daily: list, batch_id: int, plan: BatchPlan, days: list[dt.date], lo: str,
              hi: str) -> None:
        """The batch's new events into the windows, the daily totals and (when a total reaches the goal) alerts."""
        # The windows MERGE runs beside the daily totals' read and MERGE (different tables), under one set of session
        # confs for both, set and unset by this thread alone (one thread unsetting its own idempotent-write guard
        # would leave the other's MERGE unguarded).
        on_time = new.where(~F.col("_late"))

        def windows() -> None:
            fault_point("stream:windows:merge")
            with self._step(batch_id, "windows"):
                merge_event_windows(self.spark, self.tables.windows, on_time.transform(window_increments), lo, hi,
                                    self.app_id, batch_id)

        with small_merge(self.spark), delta_io.txn_guard(self.spark, self.app_id, batch_id):
            merged = Background(windows)
            try:
                with self._step(batch_id, "alerts_check"):
                    # Totals before this batch's increments (after them on a replay whose daily MERGE committed:
                    # then a (user, day) may look due that is not, and crossings_of, counting the events
                    # themselves, finds no crossing for it; a due one is never missed).
                    candidates = reaching_goal(self.spark, self.tables.daily, daily, days, self.goal)
                fault_point("stream:daily:merge")
                with self._step(batch_id, "daily"):
                    merge_event_daily_steps(self.spark, self.tables.daily, daily, days, self.app_id, batch_id)
            finally:
                merged.join()
        if not candidates:
            return
        with self._step(batch_id, "alerts_check"):
            due = alerts_due(self.spark, self.tables.alerts, candidates, days)
        if not due:
            return
        crossings = crossings_of(self.spark, self.tables.silver, new, due_frame(self.spark, due), days, self.goal,
                                 plan.now)
        fault_point("stream:alerts:merge")
        with self._step(batch_id, "alerts"), delta_io.txn_guard(self.spark, self.app_id, batch_id):
            insert_goal_alerts(self.spark, self.tables.alerts, crossings)
