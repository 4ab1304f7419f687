"""Silver edge: read what each bronze table appended since the last run and, per batch, validate, de-duplicate and
MERGE (``process_table``: bronze's change data feed in bounded ranges of versions; a stream where there is none).

Per batch: typed columns -> first failing rule -> conflicting values for a key within one file -> rank duplicates
within the batch (and mark stale re-deliveries among them) -> quarantine the failures -> upsert the winners,
quarantining any winner that is a stale re-delivery of a stored row (see ``merge.NEWER_SQL``). A batch replayed after a
crash between its writes and the state's update writes nothing twice: a planned range of bronze versions writes
plainly and, redone, appends to quarantine only the rows not already there (silver's own write is idempotent by
its content: a row already stored is ``unchanged``); a stream's batch carries Delta's idempotent-write guard (app id
+ batch id) instead.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.concurrency import run_concurrently, thread_session
from fitlake.config import Settings
from fitlake.ops.suppress import suppression
from fitlake.silver import merge as M
from fitlake.silver import transforms as T
from fitlake.silver.expectations import CONFLICT_RULE, RULES, STALE_RULE
from fitlake.silver.specs import SPECS, SilverSpec
from fitlake.spark import BIG_BATCH_BYTES, BIG_BATCH_CONF, SMALL_STAGE_CONF, session_conf

SCHEMA_CHANGE_RESTARTS = 2
SILVER_PROPERTIES = {"delta.enableChangeDataFeed": "true"}


def silver_properties(spec: SilverSpec) -> dict[str, str]:
    """A silver table's properties when it is created: its change feed (gold reads it), and file statistics (min,
    max, null count) on its key columns only, the columns reads and MERGEs skip files by (a batch's key range,
    gold's user and date bounds, ``merge.upsert``'s no-stored-key check on ``prune_column``, a key). Collecting them
    for every column of every row written was ~15% of a new day's task CPU per hourly table."""
    return {**SILVER_PROPERTIES, "delta.dataSkippingStatsColumns": ",".join(spec.keys)}


@dataclass
class TableCounts:
    """What happened to one table's rows in one run; ``rows_in`` always equals the sum of the outcomes."""

    table: str
    batches: int = 0
    rows_in: int = 0
    duplicates: int = 0  # a newer delivery of the same key from the same run won (in the batch, or already stored)
    inserted: int = 0
    updated: int = 0  # a newer delivery changed a stored row
    unchanged: int = 0  # already stored with the same values
    # quarantined also counts ``stale_redelivery``: an older delivery (by file path) of a key whose newer version is
    # stored, with other values; it never overwrites the newer one
    quarantined: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def reconciles(self) -> bool:
        return self.rows_in == self.quarantined_total + self.duplicates + self.inserted + self.updated + self.unchanged

    def add(self, other: "TableCounts") -> None:
        self.batches += other.batches
        for f in ("rows_in", "duplicates", "inserted", "updated", "unchanged"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        for rule, n in other.quarantined.items():
            self.quarantined[rule] = self.quarantined.get(rule, 0) + n


def typed_rows(bronze: DataFrame, spec: SilverSpec, rules, date_order: str | None = None) -> DataFrame:
    """Bronze rows typed, with their first failing row-level rule (``_rule``, null when the row passes)."""
    typed = bronze.transform(T.with_typed_columns, spec.columns, date_order).transform(T.with_failed_rule, rules)
    return typed.drop(*[T.text_column(c.source) for c in spec.columns])


def checked_rows(bronze: DataFrame, spec: SilverSpec, rules, date_order: str | None = None) -> DataFrame:
    """Bronze rows typed, with their first failing rule (a row-level rule, else ``conflicting_values_in_delivery``
    when its own file holds the key again with other values, else ``stale_redelivery`` when it lost to a newer
    delivery in the batch that was ingested before it) and their duplicate rank among the valid rows."""
    return typed_rows(bronze, spec, rules, date_order).transform(with_delivery_checks, spec)


def with_delivery_checks(typed: DataFrame, spec: SilverSpec) -> DataFrame:
    """``typed_rows`` with conflicts, ``_valid``, ``_dup_rank`` and stale re-deliveries: windows over each key."""
    return (
        typed.transform(T.with_delivery_conflicts, spec.keys, spec.value_columns, CONFLICT_RULE)
        .withColumn("_valid", F.col("_rule").isNull())
        .transform(T.with_latest_rank, spec.keys, "_valid")
        .transform(T.with_stale_redeliveries, spec.keys, spec.value_columns, STALE_RULE)
    )


MAX_REPEATED_KEYS = 100_000
_MOST_RULES = max(len(rules) for rules in RULES.values())  # rule totals a survey returns beside the hashes
"""``checked_from_typed`` runs the key windows only over the rows whose key repeats when at most this many keys
(by hash) do; above it, over every row (one shuffle and sort of the whole batch either way)."""


def _key_hash(keys) -> Column:
    return F.xxhash64(*[F.col(f"`{k}`") for k in keys])


def repeated_key_hashes(typed: DataFrame, keys) -> list[int] | None:
    """The hashes (``xxhash64``) of the keys that more than one valid row of ``typed`` holds, or None when there are
    more than ``MAX_REPEATED_KEYS``. One narrow shuffle (8 bytes a row) instead of the whole rows'."""
    return survey_keys(typed, keys, None)[0]


def survey_keys(typed: DataFrame, keys, range_column: str | None) -> tuple[list[int] | None, dict]:
    """(``repeated_key_hashes``, rows per row-level rule) from ONE aggregation: grouping sets (rule, key hash) and
    (rule) give the repeated hashes at the first level and, at the second, every rule's row count (None: the valid
    rows) and the valid rows' range of ``range_column`` (``key_range_columns``); no grand total (a rollup's third
    copy of every row). When no key repeats, those totals are the batch's counts (no conflict, duplicate or stale
    row is possible), so ``process_batch`` needs no second pass over the batch. Totals: ``{rule: (rows, low,
    high)}``; complete only when no key repeats."""
    valid = F.col("_rule").isNull()
    h = F.when(valid, _key_hash(keys))  # null: the failing rows, counted under their rule only
    ranged = [F.min(range_column).cast("string").alias("_low"), F.max(range_column).cast("string").alias("_high")] \
        if range_column else [F.lit(None).cast("string").alias("_low"), F.lit(None).cast("string").alias("_high")]
    rows = (typed.withColumn("_h", h).groupingSets([["_rule", "_h"], ["_rule"]], "_rule", "_h")
            .agg(F.count(F.lit(1)).alias("n"), *ranged, F.grouping("_rule").alias("_gr"), F.grouping("_h").alias("_gh"))
            .where(((F.col("_gr") == 0) & (F.col("_gh") == 1))  # a rule's total (null rule: the valid rows)
                   | ((F.col("_gh") == 0) & F.col("_h").isNotNull() & (F.col("n") > 1)))  # a repeated valid key
            .limit(MAX_REPEATED_KEYS + 2 + _MOST_RULES + 1)
            .collect())
    hashes = [r["_h"] for r in rows if r["_gh"] == 0]
    totals = {r["_rule"]: (r["n"], r["_low"], r["_high"]) for r in rows if r["_gh"] == 1}
    return (hashes if len(hashes) <= MAX_REPEATED_KEYS else None), totals


def checked_from_typed(typed: DataFrame, spec: SilverSpec, repeated: list[int] | None) -> DataFrame:
    """``with_delivery_checks`` computed cheaply: a valid row whose key no other valid row holds
    (``repeated_key_hashes``) has no conflict, is its key's winner (rank 1) and cannot be stale; a failing row is
    quarantined whatever its rank. So only the valid rows with a repeated key hash go through the windows (a
    hash collision only sends a few more). ``repeated`` None: every row does."""
    if repeated is None:
        return typed.transform(with_delivery_checks, spec)
    if not repeated:  # no key repeats: no row goes through the windows (and no plan of them is analysed)
        return typed.select("*", F.col("_rule").isNull().alias("_valid"), F.lit(1).alias("_dup_rank"))
    multi = F.col("_rule").isNull() & _key_hash(spec.keys).isin(repeated)
    single = typed.where(~multi).select("*", F.col("_rule").isNull().alias("_valid"), F.lit(1).alias("_dup_rank"))
    return single.unionByName(typed.where(multi).transform(with_delivery_checks, spec))


def _query_id(checkpoint: str) -> str:
    """The streaming query id persisted in the checkpoint: a fresh checkpoint gets a fresh id, so the idempotent
    write guard never skips the batches of a rebuilt stream whose batch ids restart at 0."""
    meta = Path(checkpoint, "metadata")
    return json.loads(meta.read_text().splitlines()[0])["id"] if meta.is_file() else "no-checkpoint"


def quarantine_append(spark, ref, rows: DataFrame, redo: bool, **options) -> None:
    """Append quarantined ``rows`` to ``ref``; ``redo`` (the batch's writes may have committed before a crash):
    only the rows not stored yet, told by every column but ``_quarantined_at`` (the raw row, its lineage: file,
    line, ingest time, and the rule), so a redone batch adds each row once whatever its first attempt committed."""
    if redo and delta_io.exists(spark, ref):
        stored = delta_io.read(spark, ref)
        same = [c for c in rows.columns if c != "_quarantined_at" and c in stored.columns]
        stored = stored.select(*[F.col(f"`{c}`").alias(f"_s{i}") for i, c in enumerate(same)])
        rows = rows.join(stored, [F.col(f"`{c}`").eqNullSafe(F.col(f"_s{i}")) for i, c in enumerate(same)],
                         "left_anti")
        if rows.isEmpty():  # all committed before the crash: no commit at all (a redo only: computed twice)
            return
    delta_io.write(rows, ref, mode="append", mergeSchema="true", **options)


def process_batch(spark, settings: Settings, spec: SilverSpec, bronze: DataFrame, batch_id: int,
                  app_id: str | None, redo: bool = False) -> TableCounts:
    """Validate, de-duplicate and write one batch of bronze rows. ``app_id``: the writes carry Delta's
    idempotent-write guard (``app_id`` + ``batch_id``: a stream's batch); None: plain writes, and ``redo`` says the
    batch may have committed some of them before a crash (``quarantine_append``)."""
    counts = TableCounts(spec.name, batches=1)
    rules = RULES[spec.name]
    bronze = bronze.transform(suppression(spark, settings))  # erased users (fitlake forget) never come back
    # Typed once and read back four times (key hashes, counts, quarantine, winners); only the rows whose key repeats
    # are shuffled and sorted (``checked_from_typed``). On disk, not in memory: a batch evicted to disk is read back
    # into the heap whole (BlockManager.maybeCacheDiskValuesInMemory), which is where 10x batches ran out of heap.
    # Kept by ``merge.keep``: locally a checkpoint, so each of those reads plans a one-node source, not the typing.
    typed = M.keep(typed_rows(bronze, spec, rules, settings.date_order))
    repeated, totals = survey_keys(typed, spec.keys, spec.prune_column)
    checked = checked_from_typed(typed, spec, repeated)
    try:
        if repeated == []:  # no key repeats: the survey's totals are the batch's counts, no second pass
            stats = [{"_rule": rule, "n": n, "dups": 0, "_range_low": low, "_range_high": high}
                     for rule, (n, low, high) in totals.items()]
        else:
            stats = (
                checked.groupBy("_rule")
                .agg(
                    F.count(F.lit(1)).alias("n"),
                    F.sum(F.when(F.col("_dup_rank") > 1, 1).otherwise(0)).alias("dups"),
                    *M.key_range_columns(checked, spec.prune_column),
                )
                .collect()
            )
        bounds = winners_n = None
        for row in stats:
            counts.rows_in += row["n"]
            if row["_rule"] is None:
                counts.duplicates = row["dups"]
                winners_n = row["n"] - row["dups"]
                bounds = M.key_range(checked, spec.prune_column, row["_range_low"], row["_range_high"])
            else:
                counts.quarantined[row["_rule"]] = row["n"]
        if counts.quarantined:
            q_ref = settings.table("quarantine", spec.name)
            rows = checked.where(~F.col("_valid")).transform(T.to_quarantine_rows)
            guard = delta_io.txn_options(app_id and f"{app_id}.quarantine", batch_id)
            quarantine_append(spark, q_ref, rows, redo, **guard)
        winners = checked.where(F.col("_valid") & (F.col("_dup_rank") == 1))
        silver = T.to_silver_rows(winners, [c.name for c in spec.columns], spec.features)
        ref = settings.table("silver", spec.name)
        if not delta_io.exists(spark, ref):  # the first batch creates the table with its rows: one commit
            actions = M.create_with(ref, silver, spec.cluster_by, silver_properties(spec))
            counts.inserted = actions["insert"]
        elif bounds is not None:
            def quarantine_stale(stale: DataFrame) -> None:
                # the raw rows of the stale winners (a winner is the only valid rank-1 row of its key in the batch)
                rows = (winners.join(stale.select(*spec.keys), list(spec.keys), "left_semi")
                        .withColumn("_rule", F.lit(STALE_RULE)).transform(T.to_quarantine_rows))
                guard = delta_io.txn_options(app_id and f"{app_id}.stale", batch_id)
                quarantine_append(spark, settings.table("quarantine", spec.name), rows, redo, **guard)

            # no guard of its own needed without app_id: redone, rows already stored classify as unchanged
            actions = M.upsert(spark, ref, silver, spec.keys, spec.value_columns, bounds,
                               app_id=app_id and f"{app_id}.silver", version=batch_id, on_stale=quarantine_stale,
                               rows=winners_n)
            counts.inserted, counts.updated, counts.unchanged = actions["insert"], actions["update"], actions["unchanged"]
            counts.duplicates += actions["superseded"]
            if actions["stale"]:
                counts.quarantined[STALE_RULE] = counts.quarantined.get(STALE_RULE, 0) + actions["stale"]
        return counts
    finally:
        M.release(typed)


def _seen_version_file(settings: Settings, name: str) -> Path:
    """The bronze version the last completed silver stream of ``name`` read up to."""
    return Path(settings.checkpoint("silver", name), "_fitlake_bronze_version")


def is_current(settings: Settings, name: str) -> bool:
    """Local tables: silver.<name> has read every bronze version there is (or there is no bronze table), decided
    from the Delta log's file names and the state file alone, without Spark."""
    bronze = settings.table("bronze", name)
    if not delta_io.has_commit(bronze.path):
        return True
    return SilverState(settings, name).seen() == M.table_version(None, bronze)


def pending_bytes(settings: Settings, name: str, by_rows: bool = False) -> int:
    """Local tables: bytes of the bronze data files silver.<name> has not read yet (from the Delta log), no Spark;
    ``by_rows``: each file sized by its rows instead (``delta_log.ROW_BYTES`` a row)."""
    bronze = settings.table("bronze", name)
    seen = SilverState(settings, name).seen()
    if by_rows:
        return delta_io.appended_input_bytes(bronze.path, seen)
    return sum(delta_io.appended_bytes_by_version(bronze.path, seen).values())


CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")
_SIZE_UNITS = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def byte_size(text: str) -> int:
    """``64m`` -> 67108864 (Spark's size suffixes b/k/m/g/t; a bare number is bytes)."""
    text = str(text).strip().lower().rstrip("b") or "0"
    unit = _SIZE_UNITS.get(text[-1], 1)
    return int(float(text[:-1] if text[-1] in _SIZE_UNITS else text) * unit)


class SilverState:
    """Per silver table, beside the old stream checkpoint (``settings.checkpoint("silver", name)``):
    ``_fitlake_bronze_version`` (the bronze version read up to), ``_fitlake_plan.json`` (the bronze versions being
    read: redone exactly after a crash). Older code kept ``_fitlake_txn_app_id`` there too (the id of its Delta
    txn-guarded writes); a range it planned is redone as any other: its committed rows are found by their content."""

    def __init__(self, settings: Settings, name: str):
        self.folder = Path(settings.checkpoint("silver", name))
        self.seen_file = _seen_version_file(settings, name)
        self.plan_file = self.folder / "_fitlake_plan.json"

    def seen(self) -> int:
        text = self.seen_file.read_text().strip() if self.seen_file.is_file() else ""
        return int(text) if text.lstrip("-").isdigit() else -1

    def _write(self, path: Path, text: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)

    def save_seen(self, version: int) -> None:
        self._write(self.seen_file, f"{version}\n")

    def plan(self) -> tuple[int, int] | None:
        if not self.plan_file.is_file():
            return None
        got = json.loads(self.plan_file.read_text())
        return int(got["low"]), int(got["high"])

    def save_plan(self, low: int, high: int) -> None:
        self._write(self.plan_file, json.dumps({"low": low, "high": high}))

    def drop_plan(self) -> None:
        self.plan_file.unlink(missing_ok=True)


def version_ranges(appended: dict[int, int], limit: int) -> list[tuple[int, int]]:
    """The bronze versions that appended rows (``{version: bytes}``) as ranges of consecutive versions of at most
    ``limit`` bytes (a bigger version is a range of its own). A version missing from ``appended`` (a DELETE of
    ``fitlake forget``, OPTIMIZE, an ALTER) ends a range: its change data is not read (after ``forget`` VACUUMs
    it, it is gone)."""
    ranges: list[tuple[int, int]] = []
    start = size = None
    for v in sorted(appended):
        if start is not None and (v != end + 1 or size + appended[v] > limit):
            ranges.append((start, end))
            start = None
        if start is None:
            start, size = v, 0
        end, size = v, size + appended[v]
    if start is not None:
        ranges.append((start, end))
    return ranges


def read_bronze_changes(spark, ref, low: int, high: int) -> DataFrame:
    """The rows bronze versions ``low..high`` appended (its change data feed: inserts only; a DELETE of
    ``fitlake forget`` is no new row, and OPTIMIZE changes no data).

    When those versions only appended plain files (``delta_io.appended_files``: bronze's own appends), the files
    are read as Parquet with the table's schema, the rows the feed would give: Delta's batch feed is a relation
    that turns every row into a Java ``Row`` and back, ~9x the CPU of reading the file (a new day of hourly_steps,
    47 k rows: 0.5 vs 0.06 executor CPU s)."""
    files = delta_io.appended_files(ref.path, low, high) if ref.path is not None else None
    if files is not None:
        schema = delta_io.read(spark, ref).schema
        return delta_io.read_files(spark, schema, files)
    changes = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", low)
               .option("endingVersion", high).load(ref.path))
    return changes.where(F.col("_change_type") == "insert").drop(*CDF_COLUMNS)


def _missing_change_data(error: Exception) -> bool:
    return "DELTA_MISSING_CHANGE_DATA" in str(error) or "change data was not recorded" in str(error)


def process_table(spark, settings: Settings, name: str) -> TableCounts | None:
    """Bring ``silver.<name>`` up to date with ``bronze.<name>``; None when there is no bronze table yet.

    Local tables read what bronze appended since the last run from its change data feed, in ranges of bronze
    versions of at most ``silver_batch_bytes`` (plain batch reads: no streaming query per table). A range is
    planned before it is read and redone exactly after a crash; its writes are plain (Delta's idempotent-write
    guard reads the table's whole state, a Spark job per write), and a redone range appends to quarantine only the
    rows not there yet (``process_batch``). Catalog tables, and local bronze tables written before
    bronze recorded its change feed, are streamed as before (``_stream_table``); such a local table then turns the
    feed on, so later runs read it."""
    spec = SPECS[name]
    bronze_ref = settings.table("bronze", name)
    if not delta_io.exists(spark, bronze_ref):
        return None
    started = time.monotonic()
    total = TableCounts(name)
    state = SilverState(settings, name)
    version = M.table_version(spark, bronze_ref)
    plan = state.plan()
    if plan is None and state.seen() == version:
        total.seconds = time.monotonic() - started
        return total  # bronze unchanged since the last completed run: nothing to read
    if bronze_ref.path is None or not delta_io.change_feed_enabled(bronze_ref.path):
        _stream_table(spark, settings, spec, total, version)
    else:
        _read_change_feed(spark, settings, spec, state, total, plan, version)
    total.seconds = time.monotonic() - started
    return total


def _read_change_feed(spark, settings: Settings, spec: SilverSpec, state: SilverState, total: TableCounts,
                      plan: tuple[int, int] | None, version: int) -> None:
    bronze_ref = settings.table("bronze", spec.name)
    first = True
    if plan is not None and plan[1] > state.seen():  # a crash in the middle of this range: redo exactly it
        ranges = [plan]
        seen = plan[1]
    else:
        plan = None
        state.drop_plan()
        seen = state.seen()
        ranges = []
    # {version: bytes appended} from the first version to read (the redone range's, else the next unseen one)
    start = plan[0] - 1 if plan is not None else seen
    sizes = delta_io.appended_bytes_by_version(bronze_ref.path, start) if ranges or seen < version else {}
    if seen < version:
        appended = {v: n for v, n in sizes.items() if seen < v <= version}
        ranges += version_ranges(appended, byte_size(settings.silver_batch_bytes))
    for low, high in ranges:
        state.save_plan(low, high)
        big = sum(n for v, n in sizes.items() if low <= v <= high) > BIG_BATCH_BYTES
        try:  # plain writes; the planned range redone (its writes may have committed): ``redo``
            with session_conf(spark, BIG_BATCH_CONF if big else {}):
                batch = read_bronze_changes(spark, bronze_ref, low, high)
                counts = process_batch(spark, settings, spec, batch, high, None, redo=first and plan is not None)
        except Exception as e:  # noqa: BLE001 - the feed's first read fails before anything is written
            if not (first and _missing_change_data(e)):
                raise
            state.drop_plan()  # versions before the feed was on: the stream reads them (its checkpoint knows where)
            _stream_table(spark, settings, spec, total, version)
            return
        first = False
        total.add(counts)
        state.save_seen(high)
        state.drop_plan()
    if state.seen() < version:  # the versions after the last range appended nothing (a DELETE, OPTIMIZE, ALTER)
        state.save_seen(version)


def _stream_table(spark, settings: Settings, spec: SilverSpec, total: TableCounts, version: int) -> None:
    """Stream bronze (availableNow) from the checkpoint's offsets; afterwards a local bronze table records its
    change feed from then on and the state points past the stream (``process_table``)."""
    name = spec.name
    bronze_ref = settings.table("bronze", name)
    checkpoint = settings.checkpoint("silver", name)

    def on_batch(batch: DataFrame, batch_id: int) -> None:
        app_id = f"fitlake.silver.{name}.{_query_id(checkpoint)}"
        total.add(process_batch(spark, settings, spec, batch, batch_id, app_id))

    for attempt in range(SCHEMA_CHANGE_RESTARTS + 1):
        query = (
            delta_io.read_stream(spark, bronze_ref, maxBytesPerTrigger=settings.silver_batch_bytes)
            .writeStream.queryName(f"silver_{name}")
            .foreachBatch(on_batch)
            .option("checkpointLocation", checkpoint)
            .trigger(availableNow=True)
            .start()
        )
        try:
            query.awaitTermination()
            break
        except Exception as e:  # a Delta stream stops when bronze gains a column; a restart reads the new schema
            if "DELTA_SCHEMA_CHANGED" not in str(e) or attempt == SCHEMA_CHANGE_RESTARTS:
                raise
    if bronze_ref.path is not None and not delta_io.change_feed_enabled(bronze_ref.path):
        from fitlake.sqltext import delta_path

        spark.sql(f"ALTER TABLE {delta_path(bronze_ref.path)} SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
        version = M.table_version(spark, bronze_ref)  # the ALTER's own version: the feed starts after it
    SilverState(settings, name).save_seen(version)  # after the stream completed: a crash before this reruns it


def silver_conf(settings: Settings, tables) -> dict[str, str]:
    """``spark.SMALL_STAGE_CONF`` when what silver has to read is small (local, the bronze bytes ``tables`` have not
    read at most ``Settings.interpreted_max_bytes``: a new day, the test suite's lakehouses), else nothing."""
    if not settings.is_local or sum(pending_bytes(settings, n) for n in tables) > settings.interpreted_max_bytes:
        return {}
    return dict(SMALL_STAGE_CONF)


def run_silver(spark, settings: Settings, tables=None, progress: Callable[[TableCounts], None] | None = None) -> list[TableCounts]:
    """Every silver table whose bronze table exists, results in ``SPECS`` order.

    Tables are independent (each reads only its own bronze table), so up to ``settings.parallel_tables`` run side
    by side, each in a session of its own (``fitlake.concurrency``); ``progress`` gets each as it finishes.
    """
    names = list(tables or SPECS)
    conf = silver_conf(settings, names)

    def one(name: str) -> TableCounts | None:
        session = thread_session(spark)
        with session_conf(session, conf):
            return process_table(session, settings, name)

    def done(_name: str, counts: TableCounts | None) -> None:
        if counts is not None and progress:
            progress(counts)

    results = run_concurrently(names, one, settings.parallel_tables, done)
    return [c for c in results if c is not None]
