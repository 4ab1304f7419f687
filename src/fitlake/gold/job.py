"""Gold edge: update the star schema from what changed in silver, never by full rebuild.

Each run reads silver's Change Data Feed from the last version it processed (``ops.gold_state``) to the current
one, turns the changed rows into affected keys (user, date), recomputes only the gold rows of those keys from the
current silver/gold state, and MERGEs them (keyed, range-bounded; unchanged rows commit nothing). The state is
written last: a run killed earlier is simply redone, and redoing a keyed recompute is a no-op.
Trailing-window KPIs also recompute the days whose window the affected day falls in (day .. day + 6).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType

from fitlake import delta_io
from fitlake.concurrency import run_concurrently
from fitlake.config import TABLES, Settings
from fitlake.frames import local_frame
from fitlake.gold import dims, facts, kpis
from fitlake.silver import merge as M
from fitlake.silver import transforms as T
from fitlake.silver.expectations import STALE_RULE
from fitlake.silver.specs import SPECS
from fitlake.spark import SMALL_STAGE_CONF
from fitlake.sqltext import delta_path

SQL_DIR = Path(__file__).with_name("sql")
GOLD_SOURCES = ("daily_activity", "activity", "sleep_day", "hourly_steps", "hourly_calories", "hourly_intensities",
                "heartrate_seconds", "weight_log")
DAILY = ("daily_activity", "activity")
HOURLY = ("hourly_steps", "hourly_calories", "hourly_intensities")
COMPLETENESS_SOURCES = facts.COMPLETENESS_SOURCES  # the per-day inputs (not weight_log)
_NAME = re.compile(r"\b(bronze|silver|quarantine|gold|ops)\.([a-z_][a-z0-9_]*)\b")


# ---- SQL files ---------------------------------------------------------------------------------------------------
def sql_statements(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def resolve_names(sql: str, settings: Settings) -> str:
    """``layer.table`` -> this target's table name (unchanged locally, ``catalog.schema.layer_table`` on UC)."""
    def sub(m: re.Match) -> str:
        layer, name = m.group(1), m.group(2)
        return settings.table(layer, name).full_name if name in TABLES[layer] else m.group(0)

    return _NAME.sub(sub, sql)


def ddl_statements() -> dict[str, str]:
    """``sql/ddl.sql``'s CREATE TABLE statements by gold table name."""
    return {_NAME.search(stmt).group(2): stmt for stmt in sql_statements((SQL_DIR / "ddl.sql").read_text())}


_CREATE = re.compile(r"^CREATE TABLE IF NOT EXISTS\s+gold\.\w+\s*\((?P<columns>.*)\)\s*(?P<clause>USING\b.*)$", re.S)


@dataclass(frozen=True)
class TableDDL:
    """A gold table as ``sql/ddl.sql`` declares it: its columns (types and comments, as Spark DDL) and the clause
    after them (``USING DELTA CLUSTER BY (date)``), for creating it from its first rows in one commit."""

    columns: str
    clause: str

    @classmethod
    def of(cls, name: str) -> "TableDDL":
        m = _CREATE.match(ddl_statements()[name])
        return cls(m.group("columns").strip(), m.group("clause").strip())

    def schema(self):
        from pyspark.sql.types import _parse_datatype_string

        return _parse_datatype_string(self.columns)  # Spark's own DDL parser: comments become field metadata


def missing_tables(spark, settings: Settings) -> set[str]:
    """The gold tables of ``sql/ddl.sql`` that do not exist yet."""
    return {name for name in ddl_statements() if not delta_io.exists(spark, settings.table("gold", name))}


def apply_ddl(spark, settings: Settings, tables: set[str] | None = None) -> set[str]:
    """Run ``sql/ddl.sql`` (only the statements of ``tables``, when given): create missing gold tables (locally at
    their Delta folder) and register them; return the names of the tables created now."""
    from fitlake.spark import register_table

    created = set()

    if settings.is_local:
        spark.sql("CREATE DATABASE IF NOT EXISTS gold")
    for name, stmt in ddl_statements().items():
        if tables is not None and name not in tables:
            continue
        ref = settings.table("gold", name)
        if delta_io.exists(spark, ref):
            register_table(spark, ref)
            continue
        if ref.path is not None:  # by path: a catalog name may still point at another root in this session
            delta_io.clear_failed_create(ref.path)
            sql = stmt.replace(f"gold.{name}", delta_path(ref.path), 1)
        else:
            sql = resolve_names(stmt, settings)
        spark.sql(sql)
        register_table(spark, ref)
        created.add(name)
    return created


def run_sql_file(spark, settings: Settings, path: Path) -> DataFrame:
    """Run every statement of an analyst query file; return the last result."""
    result = None
    for stmt in sql_statements(Path(path).read_text()):
        result = spark.sql(resolve_names(stmt, settings))
    return result


# ---- change tracking ---------------------------------------------------------------------------------------------
def read_state(spark, settings: Settings) -> dict[str, int]:
    ref = settings.table("ops", "gold_state")
    if not delta_io.exists(spark, ref):
        return {}
    if delta_io.rs_readable(ref):  # a handful of rows: the independent reader answers without a Spark job
        from deltalake import DeltaTable

        rows = DeltaTable(ref.path).to_pyarrow_table(columns=["source", "version"]).to_pylist()
    elif spark is None:
        # without Spark, a path delta-rs cannot open reads as "nothing read yet": is_current then says "not current"
        # (Spark starts and reads the state) and pending_bytes counts all of silver: slower, never wrong
        return {}
    else:
        rows = [r.asDict() for r in delta_io.read(spark, ref).collect()]
    return {r["source"]: r["version"] for r in rows}


def write_state(spark, settings: Settings, state: dict[str, int]) -> None:
    rows = local_frame(spark, sorted(state.items()), "source STRING, version BIGINT")
    delta_io.write(rows.withColumn("updated_at", F.current_timestamp()), settings.table("ops", "gold_state"),
                   mode="overwrite")


def is_current(settings: Settings) -> bool:
    """Local lakehouses: gold has read every silver version its sources have, decided from the Delta logs and
    ``ops.gold_state`` (read by the independent Delta reader), without Spark."""
    state = read_state(None, settings)
    for name in GOLD_SOURCES:
        current = M.table_version(None, settings.table("silver", name))
        if current is not None and current > state.get(name, -1):
            return False
    return True


def pending_bytes(settings: Settings, by_rows: bool = False) -> int:
    """Local lakehouses: bytes of the silver data files gold has not read yet (Delta logs + ``ops.gold_state``);
    ``by_rows``: each file sized by its rows instead (``delta_log.ROW_BYTES`` a row)."""
    state = read_state(None, settings)
    size = delta_io.added_input_bytes if by_rows else delta_io.added_bytes
    return sum(size(settings.table("silver", n).path, state.get(n, -1)) for n in GOLD_SOURCES)


def read_changes(spark, ref, start: int, end: int) -> DataFrame:
    """The rows versions ``start..end`` of a silver table inserted, updated (their new values) or deleted: its change
    data feed, or, when those versions only appended files (a new day's silver rows), the files themselves
    (``delta_io.appended_files``: the same rows, without the feed's per-row conversion)."""
    files = delta_io.appended_files(ref.path, start, end) if ref.path is not None else None
    if files:
        return delta_io.read_files(spark, delta_io.read(spark, ref).schema, files)
    reader = (spark.read.format("delta").option("readChangeFeed", "true")
              .option("startingVersion", start).option("endingVersion", end))
    df = reader.load(ref.path) if ref.path is not None else reader.table(ref.full_name)
    return df.where(F.col("_change_type") != "update_preimage")


def affected_keys(spark, settings: Settings, state: dict[str, int]) -> tuple[DataFrame | None, dict[str, int]]:
    """(source, user_id, date) of every silver row changed since ``state``, and the versions read up to."""
    parts, new_state = [], dict(state)
    for name in GOLD_SOURCES:
        ref = settings.table("silver", name)
        current = M.table_version(spark, ref)
        last = state.get(name, -1)
        if current is None or current <= last:
            continue
        changes = read_changes(spark, ref, last + 1, current)
        parts.append(changes.select(F.lit(name).alias("source"), "user_id", F.expr(SPECS[name].date_expr).alias("date")))
        new_state[name] = current
    if not parts:
        return None, new_state
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p)
    return union.distinct(), new_state


# ---- builders ----------------------------------------------------------------------------------------------------
@dataclass
class Scope:
    """The affected keys of one builder: (user_id, date) rows and their date bounds.

    ``complete``: every input of the builder was read from its first version (no ``ops.gold_state`` entry), so
    ``keys`` hold every (user, date) any of its silver inputs ever held, and so every key of the gold facts built
    from them: limiting those reads to ``keys`` keeps every row, and the builder reads them whole (no semi-join with
    ``keys``, no date bounds: a first load's gold from one read of each input). Quarantine rows are still limited
    to ``keys`` (a day whose every row was quarantined has no silver key)."""

    keys: DataFrame
    low: dt.date
    high: dt.date
    complete: bool = False


@dataclass(frozen=True)
class Builder:
    table: str
    keys: tuple[str, ...]
    deps: tuple[str, ...]
    build: Callable  # (GoldRun, Scope) -> rows for exactly the scope's keys
    prune_on_date: bool = True  # bound the MERGE by the scope's date range on the target's `date` column
    window_days: int = 0  # trailing-window KPI: a change on day d also changes days d .. d + window_days - 1
    mark_deletes: bool = True  # keys in scope that produce no row are deleted from the target
    constant: bool = False  # rows that change only with the code: written into a new or still empty table only


def in_date_range(df: DataFrame, column: str, low: dt.date, high: dt.date) -> DataFrame:
    """Literal bounds on the stored column (not on an expression of it), so Delta can skip files by their stats."""
    c = F.col(column)
    if isinstance(df.schema[column].dataType, DateType):
        return df.where(c.between(F.lit(low), F.lit(high)))
    return df.where((c >= F.lit(low).cast("timestamp")) & (c < F.lit(high + dt.timedelta(days=1)).cast("timestamp")))


def for_keys(df: DataFrame, keys: DataFrame, date_expr: str = "date") -> DataFrame:
    """Rows of ``df`` whose (user_id, date) is in ``keys``."""
    k = keys.select("user_id", F.col("date").alias("_key_date"))
    return df.withColumn("_key_date", F.expr(date_expr)).join(k, ["user_id", "_key_date"], "left_semi").drop("_key_date")


@dataclass
class GoldRun:
    spark: object
    settings: Settings

    def read(self, layer: str, name: str, whole: bool = False) -> DataFrame:
        """``layer.name``, or None when it does not exist yet; ``whole``: the reader keeps every row (no filter for
        Delta to skip files by), so an append-only local table is read as its files (``delta_io.read_current``)."""
        ref = self.settings.table(layer, name)
        if not delta_io.exists(self.spark, ref):
            return None
        return delta_io.read_current(self.spark, ref) if whole else delta_io.read(self.spark, ref)

    def read_dates(self, layer: str, name: str, column: str, low: dt.date, high: dt.date) -> DataFrame | None:
        """The rows of ``layer.name`` whose ``column`` (a date or timestamp) lies in days ``low .. high``, or None
        when the table does not exist yet. A local table the independent Delta reader can list
        (``delta_io.files_may_hold``) is read as the Parquet files whose statistics may hold such a row: Delta's own
        file skipping runs a Spark job per read ("Filtering files for query", most of a small +1 day's gold reads);
        otherwise Delta skips the files. The same rows either way (``in_date_range`` filters both)."""
        df = self.read(layer, name)
        if df is None:
            return None
        if isinstance(df.schema[column].dataType, DateType):
            bounds = (low, high)
        else:  # timestamps of those days: from low's midnight to the midnight after high (UTC, the session's zone)
            bounds = (dt.datetime.combine(low, dt.time()), dt.datetime.combine(high + dt.timedelta(days=1), dt.time()))
        files = delta_io.files_may_hold(self.settings.table(layer, name), column, *bounds)
        if files is not None:
            df = delta_io.read_files(self.spark, df.schema, files)
        return in_date_range(df, column, low, high)

    def silver_for(self, name: str, scope: Scope) -> DataFrame | None:
        if scope.complete:
            return self.read("silver", name, whole=True)
        spec = SPECS[name]
        if spec.date_expr in (spec.prune_column, f"to_date({spec.prune_column})"):
            df = self.read_dates("silver", name, spec.prune_column, scope.low, scope.high)
        else:
            df = self.read("silver", name)
        return None if df is None else for_keys(df, scope.keys, spec.date_expr)

    def silver_or_empty(self, name: str, scope: Scope) -> DataFrame:
        df = self.silver_for(name, scope)
        if df is not None:
            return df
        return local_frame(self.spark, [], self._silver_schema(name))

    def _silver_schema(self, name: str):
        from fitlake.silver.parsing import SPARK_TYPES

        spec = SPECS[name]
        cols = [f"{c.name} {SPARK_TYPES[c.kind]}" for c in spec.columns]
        extra = {"activity": ["is_non_wear boolean"], "daily_activity": ["is_non_wear boolean"]}.get(name, [])
        return ", ".join(cols + extra)

    def gold_for(self, name: str, scope: Scope) -> DataFrame:
        if scope.complete:
            return self.read("gold", name, whole=True)
        return for_keys(self.read_dates("gold", name, "date", scope.low, scope.high), scope.keys)


def _users(scope: Scope) -> DataFrame:
    return scope.keys.select("user_id").distinct()


def _build_dim_user(run: GoldRun, scope: Scope) -> DataFrame:
    users = _users(scope)
    weight = run.read("silver", "weight_log", whole=True)
    if weight is None:
        weight = local_frame(run.spark, [], "user_id BIGINT, log_time TIMESTAMP, weight_kg DOUBLE, bmi DOUBLE")
    # whole tables: build_dim_user aggregates each per user before joining the scope's users, so a day that touches
    # every user neither shuffles nor sorts the facts' rows (a semi-join with the users first did both)
    return dims.build_dim_user(users, run.read("gold", "fact_daily_activity", whole=True),
                               run.read("gold", "fact_sleep", whole=True), weight)


def _quarantined(run: GoldRun, scope: Scope) -> DataFrame:
    """(user_id, date, input, rows) of the rows of ``quarantine.<input>`` (the per-day inputs of
    gold.data_completeness) on the scope's keys: their raw text is typed the way silver types it (the file's own
    date order, else the setting). Left out: rows whose user or day cannot be read (they have no day) and stale
    re-deliveries (an older copy of a row whose newer version is in silver: nothing of that day is missing)."""
    parts = []
    for name in COMPLETENESS_SOURCES:
        q = run.read("quarantine", name, whole=True)
        if q is None:
            continue
        spec = SPECS[name]
        if "_rule" in q.columns:
            q = q.where(F.coalesce(F.col("_rule") != STALE_RULE, F.lit(True)))
        absent = [F.lit(None).cast("string").alias(c) for c in T.LINEAGE if c not in q.columns]
        q = q.select(*[F.col(f"`{c}`") for c in q.columns], *absent)
        # only the key columns (user and day) are read: typing the others would only lengthen the plan to analyse
        key_columns = [c for c in spec.columns if c.name in spec.keys]
        typed = q.transform(T.with_typed_columns, key_columns, run.settings.date_order)
        days = typed.select("user_id", F.expr(spec.date_expr).alias("date")).where(
            F.col("user_id").isNotNull() & F.col("date").isNotNull())
        parts.append(days.join(scope.keys, ["user_id", "date"], "left_semi")
                     .groupBy("user_id", "date").agg(F.count(F.lit(1)).alias("rows"))
                     .withColumn("input", F.lit(name)))
    if not parts:
        return local_frame(run.spark, [], "user_id BIGINT, date DATE, rows BIGINT, input STRING")
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p)
    return union


def _build_data_completeness(run: GoldRun, scope: Scope) -> DataFrame:
    def days(name: str) -> DataFrame:
        return run.silver_or_empty(name, scope).select("user_id", F.expr(SPECS[name].date_expr).alias("date"))

    return facts.build_data_completeness(
        days("daily_activity"), days("activity"), days("sleep_day"),
        run.gold_for("fact_hourly_activity", scope).select("user_id", "date", "missing_inputs"),
        run.gold_for("fact_heart_rate", scope).select("user_id", "date"),
        _quarantined(run, scope),
    )


def _window_base(run: GoldRun, fact: str, scope: Scope, days: int) -> DataFrame:
    """Every row of ``fact`` the trailing windows of the scope's days can see."""
    if scope.complete:
        return run.read("gold", fact, whole=True)
    base = run.read_dates("gold", fact, "date", scope.low - dt.timedelta(days=days - 1), scope.high)
    return base.join(_users(scope), "user_id", "left_semi")


BUILDERS: tuple[Builder, ...] = (
    Builder("dim_date", ("date_key",), GOLD_SOURCES,
            lambda run, s: dims.build_dim_date(s.keys), prune_on_date=False, mark_deletes=False),
    Builder("dim_activity_type", ("activity_type_key",), DAILY,
            lambda run, s: dims.build_dim_activity_type(run.spark), prune_on_date=False, mark_deletes=False,
            constant=True),
    Builder("fact_daily_activity", ("user_id", "date"), DAILY,
            lambda run, s: facts.build_fact_daily_activity(run.silver_or_empty("daily_activity", s),
                                                           run.silver_or_empty("activity", s))),
    Builder("fact_sleep", ("user_id", "date"), ("sleep_day",),
            lambda run, s: facts.build_fact_sleep(run.silver_or_empty("sleep_day", s))),
    Builder("fact_hourly_activity", ("user_id", "activity_hour"), HOURLY,
            lambda run, s: facts.build_fact_hourly_activity(*(run.silver_or_empty(n, s) for n in HOURLY)),
            mark_deletes=False),
    Builder("fact_heart_rate", ("user_id", "hour"), ("heartrate_seconds",),
            lambda run, s: facts.build_fact_heart_rate(run.silver_or_empty("heartrate_seconds", s)),
            mark_deletes=False),
    Builder("dim_user", ("user_id",), GOLD_SOURCES, _build_dim_user, prune_on_date=False, mark_deletes=False),
    Builder("data_completeness", ("user_id", "date"), COMPLETENESS_SOURCES, _build_data_completeness),
    Builder("kpi_wellness_daily", ("user_id", "date"), (*DAILY, "sleep_day"),
            lambda run, s: kpis.build_kpi_wellness_daily(run.gold_for("fact_daily_activity", s),
                                                         run.gold_for("fact_sleep", s), run.settings.step_goal,
                                                         run.gold_for("data_completeness", s))),
    Builder("kpi_engagement_daily", ("user_id", "date"), DAILY,
            lambda run, s: kpis.build_kpi_engagement_daily(
                _window_base(run, "fact_daily_activity", s, kpis.TRAILING_DAYS)),
            window_days=kpis.TRAILING_DAYS),
    Builder("kpi_sleep_efficiency", ("user_id", "date"), ("sleep_day",),
            lambda run, s: kpis.build_kpi_sleep_efficiency(_window_base(run, "fact_sleep", s, kpis.TRAILING_DAYS),
                                                           run.gold_for("data_completeness", s)),
            window_days=kpis.TRAILING_DAYS),
)


# The gold tables each builder reads (besides silver), so a builder runs only after the ones it reads.
GOLD_INPUTS: dict[str, tuple[str, ...]] = {
    "dim_user": ("fact_daily_activity", "fact_sleep"),
    "data_completeness": ("fact_hourly_activity", "fact_heart_rate"),
    "kpi_wellness_daily": ("fact_daily_activity", "fact_sleep", "data_completeness"),
    "kpi_engagement_daily": ("fact_daily_activity",),
    "kpi_sleep_efficiency": ("fact_sleep", "data_completeness"),
}


def gold_inputs(builder: Builder, builders: Sequence[Builder]) -> list[Builder]:
    """The builders of the gold tables ``builder`` reads (``GOLD_INPUTS``) among ``builders``."""
    return [b for b in builders if b.table in GOLD_INPUTS.get(builder.table, ())]


# Started first when ready: the facts of the per-hour and per-second silver tables (24 to 86,400 rows a user-day,
# against one for the daily ones) and what reads them, the longest chain of a first load.
LONGEST_CHAIN = ("fact_hourly_activity", "fact_heart_rate", "data_completeness")


def schedule(builders: Sequence[Builder]) -> list[Builder]:
    """``builders`` in the order they start when ready: ``LONGEST_CHAIN`` first, then ``BUILDERS`` order."""
    return sorted(builders, key=lambda b: b.table not in LONGEST_CHAIN)


@dataclass
class GoldCounts:
    table: str
    affected_keys: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    seconds: float = 0.0


def with_delete_markers(rows: DataFrame, keys: DataFrame, key_cols: Sequence[str]) -> DataFrame:
    """``rows`` plus, for each key in ``keys`` that produced no row, a row with ``_delete`` = true."""
    # One full join of the rows with the keys (rows evaluated once), not the rows unioned with an anti-join of the
    # keys against the rows (the rows' plan twice in one query).
    wanted = keys.select(*key_cols).distinct().withColumn("_wanted", F.lit(True))
    joined = rows.withColumn("_built", F.lit(True)).join(wanted, list(key_cols), "full")
    return joined.select(*[F.col(f"`{f.name}`") for f in rows.schema.fields],
                         F.col("_built").isNull().alias("_delete"))


def _expand(scope: Scope, days: int) -> Scope:
    shifted = scope.keys.select("user_id", F.explode(F.sequence(F.col("date"), F.date_add("date", days - 1))).alias("date"))
    return Scope(shifted.distinct(), scope.low, scope.high + dt.timedelta(days=days - 1), scope.complete)


def _conform(rows: DataFrame, target: DataFrame) -> DataFrame:
    """Rows in the target's column order and types, stamped with ``_updated_at``."""
    # a type by its SQL name: one Py4J call per cast (a DataType object costs a session lookup and a parse, ~5)
    cols = [F.col(f.name).cast(f.dataType.simpleString()).alias(f.name) for f in target.schema.fields
            if f.name != "_updated_at"]
    extra = [F.col("_delete")] if "_delete" in rows.columns else []
    return rows.select(*cols, F.current_timestamp().alias("_updated_at"), *extra)


def _has_rows(run: GoldRun, table: str) -> bool:
    ref = run.settings.table("gold", table)
    if delta_io.rs_readable(ref):  # the independent Delta reader: no Spark job
        return delta_io.local_query(ref.path, "SELECT count(*) AS n FROM t")[0]["n"] > 0
    return not delta_io.read(run.spark, ref).isEmpty()


def _conform_to(rows: DataFrame, schema) -> DataFrame:
    """Rows in ``schema``'s column order, types and field metadata (column comments), ``_updated_at`` stamped now."""
    return rows.select(*[(F.current_timestamp() if f.name == "_updated_at"
                          else F.col(f.name).cast(f.dataType.simpleString()))
                         .alias(f.name, metadata=f.metadata) for f in schema.fields])


def update_table(run: GoldRun, builder: Builder, scope: Scope, create: TableDDL | None = None) -> GoldCounts:
    """Recompute ``builder``'s rows for ``scope`` and MERGE them into its table; ``create``: the table does not exist
    yet and is created with these rows in one commit (no delete markers: there is nothing to delete)."""
    started = time.monotonic()
    ref = run.settings.table("gold", builder.table)
    if builder.window_days:
        scope = _expand(scope, builder.window_days)
    rows = builder.build(run, scope)
    if builder.window_days and not scope.complete:  # complete: rows only on days of the facts, all in scope
        rows = for_keys(rows, scope.keys)
    if create is not None:
        actions = M.create_with(ref, _conform_to(rows, create.schema()), clause=create.clause)
    else:
        if builder.mark_deletes:
            rows = with_delete_markers(rows, scope.keys, builder.keys)
        target = delta_io.read(run.spark, ref)
        source = _conform(rows, target)
        value_cols = [c for c in target.columns if c not in builder.keys and c != "_updated_at"]
        bounds = M.KeyRange("date", str(scope.low), str(scope.high), "DATE") if builder.prune_on_date else None
        actions = M.upsert(run.spark, ref, source, builder.keys, value_cols, bounds, newer=None)
    return GoldCounts(builder.table, inserted=actions["insert"], updated=actions["update"], deleted=actions["delete"],
                      unchanged=actions["unchanged"], seconds=time.monotonic() - started)


def gold_conf(settings: Settings) -> dict[str, str]:
    """``spark.SMALL_STAGE_CONF`` for a small local run (silver bytes gold has not read at most
    ``Settings.interpreted_max_bytes``), else nothing (Spark's and the session's own settings)."""
    if not settings.is_local or pending_bytes(settings) > settings.interpreted_max_bytes:
        return {}
    return dict(SMALL_STAGE_CONF)


def run_gold(spark, settings: Settings, progress: Callable[[GoldCounts], None] | None = None) -> list[GoldCounts]:
    """Bring gold up to date with silver; an empty list when silver has not changed since the last run."""
    from fitlake.spark import session_conf

    with session_conf(spark, gold_conf(settings)):
        return _run_gold(spark, settings, progress)


def _run_gold(spark, settings: Settings, progress: Callable[[GoldCounts], None] | None) -> list[GoldCounts]:
    state = read_state(spark, settings)
    changes, new_state = affected_keys(spark, settings, state)
    if changes is None:
        return []
    # A missing table is created by its builder's first write (one commit: CREATE TABLE ... AS SELECT), not by its
    # DDL statement and then a write; the DDL still creates what no builder writes, or a builder with no rows.
    missing = missing_tables(spark, settings)
    apply_ddl(spark, settings, tables=missing - {b.table for b in BUILDERS})
    changes = changes.persist(StorageLevel.DISK_ONLY)  # read once per builder; on disk, not read back into the heap
    try:
        stats = {r["source"]: r for r in changes.groupBy("source").agg(
            F.count(F.lit(1)).alias("n"), F.min("date").alias("low"), F.max("date").alias("high")).collect()}
        run = GoldRun(spark, settings)

        def one(builder: Builder) -> GoldCounts | None:
            deps = [d for d in builder.deps if d in stats]
            new = builder.table in missing
            if not deps or (builder.constant and not new and _has_rows(run, builder.table)):
                if new:  # nothing to write into it yet: the empty table, as declared
                    apply_ddl(spark, settings, tables={builder.table})
                return None  # (a table left empty by an older run killed between its DDL and its fill: filled then)
            keys = changes.where(F.col("source").isin(deps)).select("user_id", "date").distinct()
            scope = Scope(keys, min(stats[d]["low"] for d in deps), max(stats[d]["high"] for d in deps),
                          complete=all(d not in state for d in builder.deps))
            counts = update_table(run, builder, scope, create=TableDDL.of(builder.table) if new else None)
            counts.affected_keys = sum(stats[d]["n"] for d in deps)
            return counts

        def done(_builder: Builder, counts: GoldCounts | None) -> None:
            if counts is not None and progress:
                progress(counts)

        # A builder starts once the builders of the gold tables it reads have finished; the others run side by
        # side. Gold sets no session conf (its MERGEs carry no txn guard), so they share the session and the
        # persisted changes.
        order = schedule(BUILDERS)
        results = dict(zip((b.table for b in order), run_concurrently(
            order, one, settings.parallel_tables, done, after=lambda b: gold_inputs(b, order))))
        write_state(spark, settings, new_state)
        return [results[b.table] for b in BUILDERS if results.get(b.table) is not None]
    finally:
        changes.unpersist()


# ---- run summary -------------------------------------------------------------------------------------------------
def completeness_summary(completeness: DataFrame) -> list[str]:
    """The run summary's lines on gold.data_completeness: how many user-days have every input, and per input on how
    many user-days it was missing or had rows quarantined (most affected first). One Spark query: the user-days by
    (is_complete, missing_inputs, quarantined_inputs), a few hundred groups at most, tallied here."""
    groups = completeness.groupBy("is_complete", "missing_inputs", "quarantined_inputs").count().collect()
    return summary_lines([tuple(r) for r in groups])


def summary_lines(groups: list[tuple]) -> list[str]:
    """``completeness_summary``'s lines from ``(is_complete, missing_inputs, quarantined_inputs, user-days)``
    groups."""
    total = sum(g[3] for g in groups)
    if not total:
        return []
    complete = sum(g[3] for g in groups if g[0])
    lines = [f"gold completeness: {complete} of {total} user-days have every input "
             "(gold.data_completeness; the dashboard's Data completeness page lists the rest)"]
    for column, what in ((1, "missing"), (2, "with quarantined rows")):
        days: dict[str, int] = {}
        for g in groups:
            for name in (g[column].split(",") if g[column] is not None else ()):
                days[name] = days.get(name, 0) + g[3]
        if days:
            ranked = sorted(days.items(), key=lambda kv: (-kv[1], kv[0]))
            lines.append(f"  inputs {what} (user-days): " + ", ".join(f"{name} {n}" for name, n in ranked))
    return lines


def completeness_notes(spark, settings: Settings) -> list[str]:
    """completeness_summary of the whole gold.data_completeness, [] before it exists. A local table is read by the
    independent Delta reader (DataFusion, as the dashboard reads it): no Spark job."""
    ref = settings.table("gold", "data_completeness")
    if not delta_io.exists(spark, ref):
        return []
    if not delta_io.rs_readable(ref):
        return completeness_summary(delta_io.read(spark, ref))
    rows = delta_io.local_query(
        ref.path, "SELECT is_complete, missing_inputs, quarantined_inputs, count(*) AS n FROM t GROUP BY 1, 2, 3")
    return summary_lines([(r["is_complete"], r["missing_inputs"], r["quarantined_inputs"], r["n"]) for r in rows])
