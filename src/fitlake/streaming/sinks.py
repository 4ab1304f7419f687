"""The streaming job's tables and how a micro-batch writes them: creating them against a fixed schema, the silver
lookup that decides which events are new, and the MERGEs into the windows, the daily totals and the goal alerts."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from fitlake import delta_io
from fitlake.bronze.parse import META_COLUMNS as BRONZE_META_COLUMNS
from fitlake.bronze.writer import ensure_bronze_table
from fitlake.config import Settings, TableRef
from fitlake.frames import local_frame
from fitlake.spark import SMALL_MERGE_CONF, session_conf
from fitlake.streaming.schema import (
    BRONZE_KAFKA_SCHEMA,
    DAILY_STEPS_SCHEMA,
    EVENT_WINDOWS_SCHEMA,
    GOAL_ALERTS_SCHEMA,
    SILVER_EVENTS_PROPERTIES,
    SILVER_EVENTS_SCHEMA,
    quarantine_schema,
)
from fitlake.streaming.state import TS_PY
from fitlake.streaming.transforms import daily_step_totals, first_delivery_per_event, first_goal_crossings


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
    delta_io.ensure_table(spark, tables.silver, SILVER_EVENTS_SCHEMA, partition_by=["event_date"],
                          properties=SILVER_EVENTS_PROPERTIES)
    _set_missing_properties(spark, tables.silver, SILVER_EVENTS_PROPERTIES)
    delta_io.ensure_table(spark, tables.windows, EVENT_WINDOWS_SCHEMA)
    _add_missing_columns(spark, tables.windows, EVENT_WINDOWS_SCHEMA)
    delta_io.ensure_table(spark, tables.alerts, GOAL_ALERTS_SCHEMA)
    if not delta_io.exists(spark, tables.daily):
        # Born from silver in one commit, so a lakehouse streamed before this table existed starts from the right
        # totals (an empty silver makes an empty table); a kill before the commit leaves no table, and the next run
        # does it again.
        totals = delta_io.read(spark, tables.silver).transform(daily_step_totals)
        delta_io.write(totals.select(*[F.col(f.name).cast(f.dataType.simpleString())
                                       for f in DAILY_STEPS_SCHEMA.fields]),
                       tables.daily)
    return tables


def _set_missing_properties(spark: SparkSession, ref: TableRef, properties: dict[str, str]) -> None:
    """A table made by an older version of the job gets the properties added since (one commit, once); a value
    already set on the table stays."""
    current = delta_io.delta_table(spark, ref).detail().first()["properties"] or {}
    missing = {k: v for k, v in properties.items() if k not in current}
    delta_io.set_properties(spark, ref, missing)


def _add_missing_columns(spark: SparkSession, ref: TableRef, schema) -> None:
    """A table made by an older version of the job gets the columns added since (null in its old rows)."""
    have = set(delta_io.read(spark, ref).columns)
    delta_io.add_columns(spark, ref, {f.name: f.dataType.simpleString() for f in schema.fields if f.name not in have})


def new_events(spark: SparkSession, silver: TableRef, events: DataFrame, days: list[dt.date], min_time: str,
               max_time: str) -> DataFrame:
    """The batch's typed events whose ``event_id`` silver has not seen (first delivery within the batch)."""
    return events.transform(first_delivery_per_event).join(
        _seen_event_ids(spark, silver, days, min_time, max_time), "event_id", "left_anti")


def _seen_event_ids(spark: SparkSession, silver: TableRef, days: list[dt.date], min_time: str,
                    max_time: str) -> DataFrame:
    """``event_id`` of silver's events within the batch's event-time range. A re-delivered event carries its original
    ``event_time``, so the lookup is bounded to the batch's day partitions and event-time range: about a watermark's
    worth of data for a live stream, not the whole table. A local table: only the Parquet files whose min/max
    ``event_time`` overlap the range, as delta-rs lists them from the log (``delta_io.files_may_hold``), read as
    plain Parquet; Spark plans no Delta scan for them (the table's snapshot rebuilt after the previous batch's append,
    its file skipping: a Spark job and ~0.3-1 s of driver time per batch). Otherwise (or when delta-rs cannot tell)
    a Delta read with those literals as filters (Delta prunes the partitions and skips the files)."""
    within = F.col("event_time").between(F.lit(min_time).cast("timestamp"), F.lit(max_time).cast("timestamp"))
    files = delta_io.files_may_hold(silver, "event_time", dt.datetime.strptime(min_time, TS_PY),
                                    dt.datetime.strptime(max_time, TS_PY))
    if files is None:
        return delta_io.read(spark, silver).where(F.col("event_date").isin(days)).where(within).select("event_id")
    if not files:
        return local_frame(spark, [], "event_id string")
    return delta_io.read_files(spark, "event_id string, event_time timestamp", files).where(within).select("event_id")


WINDOW_KEY = ("user_id", "activity_type", "window_start")
WINDOW_SLACK = dt.timedelta(seconds=30)  # a window starting up to one window before the batch's first event


def small_merge(spark: SparkSession):
    """``SMALL_MERGE_CONF`` on the session inside the block (``fitlake.spark.session_conf``)."""
    return session_conf(spark, SMALL_MERGE_CONF)


def _plus(c: str) -> str:
    return f"CASE WHEN t.{c} IS NULL THEN s.{c} WHEN s.{c} IS NULL THEN t.{c} ELSE t.{c} + s.{c} END"


def merge_event_windows(spark: SparkSession, target: TableRef, increments: DataFrame, lo: str, hi: str, app_id: str,
                        batch_id: int) -> None:
    """Add a batch's window increments to ``gold.event_windows`` (insert new windows). The key is null-safe (an event
    may have no activity type) and bounded to the batch's event-time span, so older windows' files are skipped.

    A local table: the increments (a few thousand rows) are collected and MERGEd by delta-rs (``_rs_merge_once``);
    a catalog table: Spark's MERGE (inside the caller's ``delta_io.txn_guard``)."""
    readings = "coalesce(t.heart_rate_readings, 0) + coalesce(s.heart_rate_readings, 0)"
    hr_sum = "coalesce(t.heart_rate_sum, 0) + coalesce(s.heart_rate_sum, 0)"
    updates = {
        "steps": _plus("steps"),
        "calories": _plus("calories"),
        "avg_heart_rate": f"CAST({hr_sum} AS DOUBLE) / nullif({readings}, 0)",
        "max_heart_rate": "greatest(t.max_heart_rate, s.max_heart_rate)",
        "event_count": "t.event_count + s.event_count",
        "heart_rate_readings": readings,
        "heart_rate_sum": hr_sum,
    }
    since = (dt.datetime.strptime(lo, TS_PY) - WINDOW_SLACK).strftime(TS_PY)
    bounds = f"t.window_start >= TIMESTAMP '{since}' AND t.window_start <= TIMESTAMP '{hi}'"
    if _rs_writable(target):
        # user_id and window_start are never null (silver's user_id and event_time are not); DataFusion's parser
        # mis-reads a chain of IS NOT DISTINCT FROM ... AND, so the null-safe test of activity_type is spelled out
        on = ("t.user_id = s.user_id AND t.window_start = s.window_start AND (t.activity_type = s.activity_type "
              "OR (t.activity_type IS NULL AND s.activity_type IS NULL))")
        _rs_merge_once(target, increments.toArrow(), f"{bounds} AND {on}", updates, app_id, batch_id)
        return
    on = " AND ".join(f"t.{k} <=> s.{k}" for k in WINDOW_KEY)
    with small_merge(spark):
        (
            delta_io.delta_table(spark, target).alias("t")
            .merge(F.broadcast(increments).alias("s"), f"{bounds} AND {on}")
            .whenMatchedUpdate(set=updates)
            .whenNotMatchedInsertAll()
            .execute()
        )


_ARROW_TYPES = {"long": "int64", "integer": "int32", "double": "float64", "string": "string", "date": "date32"}


def _arrow_schema(schema: StructType):
    """The Arrow schema of a table's Spark schema (the stream's gold tables' types only)."""
    import pyarrow as pa

    def arrow(t):
        if t.typeName() == "timestamp":
            return pa.timestamp("us", tz="UTC")
        return pa.type_for_alias(_ARROW_TYPES[t.typeName()])

    return pa.schema([pa.field(f.name, arrow(f.dataType), f.nullable) for f in schema.fields])


def _rs_writable(ref: TableRef) -> bool:
    """Whether delta-rs writes ``ref``: a local table (``delta_io.rs_readable``) at writer protocol 2 or below without
    table features (the stream's tables as ``ensure_stream_tables`` makes them)."""
    if not delta_io.rs_readable(ref):
        return False
    from deltalake import DeltaTable

    protocol = DeltaTable(ref.path).protocol()
    return protocol.min_writer_version <= 2 and not protocol.writer_features


def _rs_merge_once(target: TableRef, source, on: str, updates: dict[str, str], app_id: str, batch_id: int) -> None:
    """MERGE ``source`` (an Arrow table, cast to the target's schema) into the local table ``target`` by delta-rs:
    matched rows updated by ``updates``, the others inserted, in one commit carrying the same idempotent-write marker
    Spark's writes carry (``txn``: ``app_id``, ``batch_id``); nothing when the table already holds that marker, so a
    replayed batch adds nothing twice. A small MERGE takes milliseconds and no Spark job (Spark's MERGE of a few
    hundred or thousand rows: 2-8 Spark jobs, its table's snapshot rebuilt, 1.5-3 s of a micro-batch)."""
    import pyarrow as pa
    from deltalake import CommitProperties, DeltaTable, Transaction

    table = DeltaTable(target.path)
    done = table.transaction_version(app_id)
    if done is not None and done >= batch_id:
        return
    schema = _arrow_schema(StructType.fromJson(json.loads(table.schema().to_json())))
    source = pa.table(source).select(schema.names).cast(schema)
    (
        table.merge(source, on, source_alias="s", target_alias="t",
                    commit_properties=CommitProperties(app_transactions=[Transaction(app_id, batch_id)]))
        .when_matched_update(updates=updates)
        .when_not_matched_insert_all()
        .execute()
    )


def _days_sql(days: list[dt.date]) -> str:
    """``days`` as a list of SQL date literals (Spark SQL and DataFusion alike)."""
    return ", ".join(f"CAST('{d.isoformat()}' AS DATE)" for d in days)


def merge_event_daily_steps(spark: SparkSession, target: TableRef, increments: list, days: list[dt.date],
                            app_id: str, batch_id: int) -> None:
    """Add a batch's per (user, day) steps and events (rows of ``daily_step_totals_with_late``, collected) to the
    running daily totals in ``gold.event_daily_steps``: a local table by delta-rs (``_rs_merge_once``), a catalog
    table by Spark's MERGE (inside the caller's ``delta_io.txn_guard``)."""
    on = f"t.date IN ({_days_sql(days)}) AND t.user_id = s.user_id AND t.date = s.date"
    updates = {"steps": "t.steps + s.steps", "event_count": "t.event_count + s.event_count"}
    if _rs_writable(target):
        import pyarrow as pa

        rows = [{f.name: r[f.name] for f in DAILY_STEPS_SCHEMA.fields} for r in increments]
        _rs_merge_once(target, pa.Table.from_pylist(rows, schema=_arrow_schema(DAILY_STEPS_SCHEMA)), on, updates,
                       app_id, batch_id)
        return
    with small_merge(spark):
        (
            delta_io.delta_table(spark, target).alias("t")
            .merge(daily_increments_frame(spark, increments).alias("s"), on)
            .whenMatchedUpdate(set=updates)
            .whenNotMatchedInsertAll()
            .execute()
        )


def daily_increments_frame(spark: SparkSession, increments: list) -> DataFrame:
    """The batch's per (user, day) increments (rows of ``daily_step_totals_with_late``, collected) as a DataFrame
    for the MERGE: a local relation, nothing to recompute."""
    return local_frame(spark, [(r["user_id"], r["date"], r["steps"], r["event_count"]) for r in increments],
                       DAILY_STEPS_SCHEMA)


def reaching_goal(spark: SparkSession, daily: TableRef, increments: list, days: list[dt.date],
                  goal: int) -> set[tuple[int, dt.date]]:
    """(user_id, date) whose running total reaches ``goal`` with the batch's ``increments``: the total in ``daily``
    plus the increment. Only totals within the batch's largest increment of the goal are read: a local table by the
    independent Delta reader (no Spark job), a catalog table in one small Spark job."""
    added = {(r["user_id"], r["date"]): r["steps"] for r in increments}
    if not added:
        return set()
    near = goal - max(added.values())
    if delta_io.rs_readable(daily):
        rows = delta_io.local_query(daily.path, "SELECT user_id, date, steps FROM t WHERE date IN "
                                                f"({_days_sql(days)}) AND steps >= {int(near)}")
    else:
        rows = (delta_io.read(spark, daily).where(F.col("date").isin(days)).where(F.col("steps") >= near)
                .select("user_id", "date", "steps").collect())
    before = {(r["user_id"], r["date"]): r["steps"] for r in rows}
    return {key for key, steps in added.items() if before.get(key, 0) + steps >= goal}


def alerts_due(spark: SparkSession, alerts: TableRef, candidates: set[tuple[int, dt.date]],
               days: list[dt.date]) -> list[tuple[int, dt.date]]:
    """The ``candidates`` (user_id, date) that have no alert yet (one small read of the days' alerts; a local table
    by the independent Delta reader, no Spark job)."""
    if delta_io.rs_readable(alerts):
        rows = delta_io.local_query(alerts.path, f"SELECT user_id, date FROM t WHERE date IN ({_days_sql(days)})")
    else:
        rows = delta_io.read(spark, alerts).where(F.col("date").isin(days)).select("user_id", "date").collect()
    alerted = {(r["user_id"], r["date"]) for r in rows}
    return sorted(candidates - alerted)


def due_frame(spark: SparkSession, due: list[tuple[int, dt.date]]) -> DataFrame:
    return local_frame(spark, due, "user_id bigint, event_date date")


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


def insert_goal_alerts(spark: SparkSession, target: TableRef, crossings: DataFrame) -> None:
    """Insert-only MERGE of goal crossings into ``gold.goal_alerts``: one alert per (user, day), never a second."""
    with small_merge(spark):
        (
            delta_io.delta_table(spark, target).alias("t")
            .merge(crossings.alias("s"), "t.user_id = s.user_id AND t.date = s.date")
            .whenNotMatchedInsertAll()
            .execute()
        )
