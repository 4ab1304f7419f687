"""Keyed upserts into Delta that cost what the batch costs, commit nothing when nothing changed, and are safe to
replay.

Delta's MERGE rewrites every file holding a matched row even when no clause fires, so a replayed batch would
rewrite files. We therefore classify each incoming row first (insert / update / delete / unchanged) with one
left join against only the target rows inside the batch's key range, and MERGE just the rows that change
anything. The same range predicate goes into the MERGE condition, so Delta skips every file outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from fitlake import delta_io
from fitlake.delta_io import table_version, txn_guard, txn_options  # noqa: F401 - used here and by silver, gold, ops
from fitlake.config import TableRef
from fitlake.sqltext import table_clause
from fitlake.silver.transforms import DELIVERY_PATH_SQL

# An incoming row replaces a stored one only when it was delivered later (transforms.DELIVERY_ORDER_DOC): its file
# path (without extension) sorts later (the landing contract: day / export folders named in time order, a
# corrections file or a "(1)" copy sorting after the file it corrects), or it is the same path delivered again and
# ingested later (a file rewritten in place). A row ingested after the stored one but from a file that sorts BEFORE
# it (an old file re-sent after a correction) with other values is a stale re-delivery: it never overwrites the
# newer stored version and is reported as ``stale_redelivery`` (the silver job quarantines it), never dropped
# silently. An older version ingested in the same run as the stored one (an original and its correction split over
# two micro-batches) is just superseded (counted as a duplicate).
_S_PATH, _T_PATH = (DELIVERY_PATH_SQL.format(c=f"{a}._source_file") for a in ("s", "t"))
NEWER_SQL = (f"({_S_PATH} > {_T_PATH} OR ({_S_PATH} = {_T_PATH} AND (s._source_file > t._source_file"
             " OR (s._source_file = t._source_file AND s._ingested_at > t._ingested_at))))")
ARRIVED_LATER_SQL = "s._ingested_at > t._ingested_at"

ACTIONS = ("insert", "update", "delete", "unchanged", "superseded", "stale")


@dataclass(frozen=True)
class KeyRange:
    """Inclusive bounds of one key column in a batch, as SQL literal text plus the column's SQL type."""

    column: str
    low: str
    high: str
    sql_type: str

    def predicate(self, alias: str | None = None) -> str:
        col = f"{alias}.`{self.column}`" if alias else f"`{self.column}`"
        return f"{col} BETWEEN CAST('{self.low}' AS {self.sql_type}) AND CAST('{self.high}' AS {self.sql_type})"


def key_range_columns(df: DataFrame, column: str) -> list[Column]:
    """Aggregate expressions for ``key_range`` (so callers can fold them into an aggregation they already run)."""
    return [F.min(column).cast("string").alias("_range_low"), F.max(column).cast("string").alias("_range_high")]


def key_range(df: DataFrame, column: str, low: str | None, high: str | None) -> KeyRange | None:
    if low is None or high is None:
        return None
    return KeyRange(column, low, high, df.schema[column].dataType.simpleString())


def _same_values(columns: Sequence[str]) -> Column:
    same = F.lit(True)
    for c in columns:
        same = same & F.col(f"s.`{c}`").eqNullSafe(F.col(f"t.`{c}`"))
    return same


def classify_changes(
    source: DataFrame,
    target: DataFrame,
    keys: Sequence[str],
    value_columns: Sequence[str],
    newer: str | None = NEWER_SQL,
) -> DataFrame:
    """Source rows with ``_action``: insert (key not in target), update (values differ and, when ``newer`` is given,
    the source row is newer), stale (values differ, the stored row is the newer delivery but the source row was
    ingested after it: only with ``newer``), superseded (values differ, the stored row is the newer delivery from the
    same or a later ingest, e.g. the original of a correction in another micro-batch of the same run), delete
    (source ``_delete`` is true and the key exists), else unchanged."""
    t_cols = list(dict.fromkeys([*keys, *value_columns, *(["_ingested_at", "_source_file"] if newer else [])]))
    t = target.select(*[F.col(f"`{c}`") for c in t_cols]).withColumn("_present", F.lit(True)).alias("t")
    s = source.alias("s")
    on = [F.col(f"s.`{k}`") == F.col(f"t.`{k}`") for k in keys]
    joined = s.join(t, on, "left")
    delete = F.col("s._delete") if "_delete" in source.columns else F.lit(False)
    differs = F.coalesce(~_same_values(value_columns), F.lit(False))
    is_newer = F.coalesce(F.expr(newer), F.lit(False)) if newer else F.lit(True)
    arrived_later = F.coalesce(F.expr(ARRIVED_LATER_SQL), F.lit(False)) if newer else F.lit(False)
    action = (
        F.when(F.col("t._present").isNull(), F.when(delete, "unchanged").otherwise("insert"))
        .when(delete, "delete")
        .when(differs & is_newer, "update")
        .when(differs & arrived_later, "stale")
        .when(differs, "superseded")
        .otherwise("unchanged")
    )
    return joined.select("s.*", action.alias("_action"))


def create_with(ref: TableRef, source: DataFrame, cluster_by: Sequence[str] = (), properties: dict | None = None,
                clause: str | None = None) -> dict[str, int]:
    """Create the missing table ``ref`` with ``source``'s rows (``_delete`` markers left out) in one commit: every
    row an insert. ``upsert``'s path for a table that does not exist yet; a replay finds it and upserts."""
    rows = source.where(~F.col("_delete")).drop("_delete") if "_delete" in source.columns else source
    counts = {a: 0 for a in ACTIONS}
    counts["insert"] = delta_io.create_from(rows, ref, clause or table_clause(cluster_by=cluster_by,
                                                                              properties=properties))
    return counts


def ensure_like(spark, ref: TableRef, schema: StructType, cluster_by: Sequence[str] = (),
                properties: dict | None = None) -> bool:
    """Create ``ref`` (if missing) with ``schema``, every column nullable so no NOT NULL invariant sneaks in;
    True when it was created now."""
    if delta_io.exists(spark, ref):
        return False
    nullable = StructType([StructField(f.name, f.dataType, True) for f in schema.fields])
    delta_io.ensure_table(spark, ref, nullable, properties=properties, cluster_by=cluster_by)
    return True


def upsert(
    spark,
    ref: TableRef,
    source: DataFrame,
    keys: Sequence[str],
    value_columns: Sequence[str],
    key_bounds: KeyRange | None = None,
    newer: str | None = NEWER_SQL,
    app_id: str | None = None,
    version: int | None = None,
    on_stale: Callable[[DataFrame], None] | None = None,
) -> dict[str, int]:
    """MERGE ``source`` into the existing table ``ref`` by ``keys``; return the count of each action.

    Rows classified ``stale`` / ``superseded`` (an older delivery with other values than the stored newer one) are
    never merged;
    ``on_stale`` is called with them (keys and values) before the MERGE, so the caller can quarantine them.

    ``key_bounds`` (the batch's range of one key column) limits both the classification read and the MERGE to the
    target files that can match. No commit at all when every row is unchanged. A table that does not exist yet is
    created by ``create_with`` instead (no join, no MERGE)."""
    target = delta_io.read(spark, ref)
    if key_bounds is not None:
        target = target.where(F.expr(key_bounds.predicate()))
    # On disk, like silver's checked rows: a memory cache evicted to disk is read back into the heap whole.
    classified = classify_changes(source, target, keys, value_columns, newer).persist(StorageLevel.DISK_ONLY)
    try:
        counts = {a: 0 for a in ACTIONS}
        counts.update({r["_action"]: r["count"] for r in classified.groupBy("_action").count().collect()})
        if counts["stale"] and on_stale is not None:
            on_stale(classified.where(F.col("_action") == "stale").drop("_action"))
        if counts["insert"] + counts["update"] + counts["delete"] == 0:
            return counts
        changes = classified.where(F.col("_action").isin("insert", "update", "delete"))
        data_cols = [c for c in source.columns if c != "_delete"]
        if counts["update"] + counts["delete"] == 0:  # only new keys (a new day): an append does it, no MERGE
            delta_io.write(changes.select(*data_cols), ref, mode="append", **txn_options(app_id, version))
            return counts
        condition = " AND ".join([f"t.`{k}` = s.`{k}`" for k in keys])
        if key_bounds is not None:
            condition += " AND " + key_bounds.predicate("t")
        assignments = {f"`{c}`": f"s.`{c}`" for c in data_cols}
        with txn_guard(spark, app_id, version):
            (
                delta_io.delta_table(spark, ref).alias("t")
                .merge(changes.alias("s"), condition)
                .whenMatchedDelete(condition="s._action = 'delete'")
                .whenMatchedUpdate(condition="s._action = 'update'", set=assignments)
                .whenNotMatchedInsert(condition="s._action = 'insert'", values=assignments)
                .execute()
            )
        return counts
    finally:
        classified.unpersist()
