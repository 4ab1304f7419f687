"""The bronze writer: one bronze table per source, created on first use, appended exactly once per batch.

Used by the local planned batches (``local_batch``), Auto Loader's ``foreachBatch`` (``ingest``) and the streaming
job; it imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fitlake import delta_io
from fitlake.bronze.parse import BATCH_ID, CORRUPT, INGESTED_AT, LINE, RESCUED, SOURCE_MODIFIED, bronze_columns
from fitlake.config import TableRef


def bronze_schema(columns: Iterable[str]) -> T.StructType:
    types = {SOURCE_MODIFIED: T.TimestampType(), LINE: T.IntegerType(), INGESTED_AT: T.TimestampType()}
    names = [*bronze_columns(list(columns)), INGESTED_AT, BATCH_ID]
    return T.StructType([T.StructField(n, T.LongType() if n == BATCH_ID else types.get(n, T.StringType())) for n in names])


def ensure_bronze_table(spark, ref: TableRef, columns: Iterable[str]) -> None:
    """Create the table on first use; afterwards add any persisted-schema column it lacks (idempotent)."""
    columns = list(columns)
    if not delta_io.exists(spark, ref):
        delta_io.ensure_table(spark, ref, bronze_schema(columns))
        return
    present = {c.lower() for c in delta_io.read(spark, ref).columns}
    missing = [c for c in columns if c.lower() not in present]
    if missing:
        added = ", ".join(f"`{c}` STRING" for c in missing)
        spark.sql(f"ALTER TABLE {_sql_name(ref)} ADD COLUMNS ({added})")


def _sql_name(ref: TableRef) -> str:
    from fitlake.sqltext import delta_path  # any path quoted (spaces, quotes, backticks)

    return delta_path(ref.path) if ref.path is not None else ref.full_name


def write_batch(batch_df: DataFrame, batch_id: int, ref: TableRef, app_id: str) -> None:
    """Idempotent append: Delta skips a (txnAppId, txnVersion) it has committed, so a replayed batch adds nothing.

    Not ``delta_io.write``: the table is created and registered once per run, not once per micro-batch.
    """
    batch = batch_df.withColumn(BATCH_ID, F.lit(batch_id).cast("bigint"))
    delta_io.append_once(batch, ref, app_id, batch_id, mergeSchema="true")


def stat_columns() -> list:
    keys = F.flatten(F.collect_list(F.map_keys(F.from_json(F.col(RESCUED), "map<string,string>"))))
    return [
        F.count(F.lit(1)).alias("rows"),
        F.count(CORRUPT).alias("corrupt_rows"),
        F.count(RESCUED).alias("rescued_rows"),
        F.to_json(F.array_distinct(keys)).alias("rescued_keys"),  # JSON text: Observation returns no arrays
    ]
