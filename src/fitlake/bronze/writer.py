"""The bronze writer: one bronze table per source, created on first use, appended exactly once per batch.

Used by the local planned batches (``local_batch``), Auto Loader's ``foreachBatch`` (``BatchWriter``, run by
``autoloader``) and the streaming job; it imports none of them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fitlake import delta_io
from fitlake.bronze.formats import DATE_FORMAT
from fitlake.bronze.parse import (BATCH_ID, CORRUPT, INGESTED_AT, LINE, RESCUED, SOURCE_FILE, SOURCE_MODIFIED,
                                  bronze_columns)
from fitlake.config import TableRef


def bronze_schema(columns: Iterable[str]) -> T.StructType:
    types = {SOURCE_MODIFIED: T.TimestampType(), LINE: T.IntegerType(), INGESTED_AT: T.TimestampType()}
    names = [*bronze_columns(list(columns)), INGESTED_AT, BATCH_ID]
    return T.StructType([T.StructField(n, T.LongType() if n == BATCH_ID else types.get(n, T.StringType())) for n in names])


# Silver reads what bronze added since its last run from bronze's change data feed (fitlake.silver.job), in plain
# batch reads: no streaming query, checkpoint or offsets per table and run.
# File statistics only on the columns bronze is ever filtered by (a batch's rows, a run's rows): every bronze column
# is raw text, and nothing skips files by it (each file holds many users and days), while collecting min/max/nulls
# of every column took about a sixth of a large source's ingest (hourly_steps at B1 1x, one JVM: 35.6-37.7 -> 30.5-31.3
# JVM CPU s; `python -m benchmarks.bronze_source_ab`, benchmarks/results/bronze-stats-ab-2026-11-30.txt).
BRONZE_PROPERTIES = {"delta.enableChangeDataFeed": "true",
                     "delta.dataSkippingStatsColumns": f"{BATCH_ID},{INGESTED_AT}"}


def ensure_bronze_table(spark, ref: TableRef, columns: Iterable[str]) -> None:
    """Create the table on first use; afterwards add any persisted-schema column it lacks (idempotent)."""
    columns = list(columns)
    if not delta_io.exists(spark, ref):
        delta_io.ensure_table(spark, ref, bronze_schema(columns), properties=BRONZE_PROPERTIES)
        return
    present = {c.lower() for c in delta_io.read(spark, ref).columns}
    delta_io.add_columns(spark, ref, {c: "STRING" for c in columns if c.lower() not in present})


def write_batch(batch_df: DataFrame, batch_id: int, ref: TableRef, app_id: str, creates: bool = False,
                guard: bool = True) -> None:
    """Idempotent append: Delta skips a (txnAppId, txnVersion) it has committed, so a replayed batch adds nothing.
    ``guard=False``: a plain append, for a caller that knows the batch was never committed (local planned batches:
    ``local_batch.ROWS_GUARD``), without the Spark job Delta's check costs.

    Not ``delta_io.write``: the table is created and registered once per run, not once per micro-batch.
    ``creates``: the table does not exist yet and this write creates it (with ``BRONZE_PROPERTIES``).
    """
    batch = batch_df.withColumn(BATCH_ID, F.lit(batch_id).cast("bigint"))
    delta_io.append_once(batch, ref, app_id if guard else None, batch_id, mergeSchema="true",
                         **(BRONZE_PROPERTIES if creates else {}))


def stat_columns(columns: Iterable[str] = ()) -> list:
    """A batch's counts as aggregate expressions (for an Observation on its write, or a query of the table).
    ``columns``: the batch's columns; with ``_date_format`` among them, also ``format_column``."""
    keys = F.flatten(F.collect_list(F.map_keys(F.from_json(F.col(RESCUED), "map<string,string>"))))
    return [
        F.count(F.lit(1)).alias("rows"),
        F.count(CORRUPT).alias("corrupt_rows"),
        F.count(RESCUED).alias("rescued_rows"),
        F.to_json(F.array_distinct(keys)).alias("rescued_keys"),  # JSON text: Observation returns no arrays
        *([format_column()] if DATE_FORMAT in set(columns) else []),
    ]


def format_column(rows: Column | None = None) -> Column:
    """``file_formats``: each file's date format, as JSON text of the distinct (file, format) pairs of the rows (of
    ``rows`` only, when given: one row per file is enough, the format is the file's); at most one pair per file."""
    pair = F.struct(F.col(SOURCE_FILE).alias("file"), F.col(DATE_FORMAT).alias("format"))
    return F.to_json(F.collect_set(pair if rows is None else F.when(rows, pair))).alias("file_formats")


def file_formats(stats: dict) -> list[tuple[str, str | None]]:
    """(file, date format) pairs of a batch's ``stat_columns`` (none when the batch had no ``_date_format``)."""
    return [(f["file"], f.get("format")) for f in json.loads(stats.get("file_formats") or "[]")]


def sorted_formats(pairs: Iterable[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """(file, date format) pairs in file order; a file without dates has format None (sorted as "")."""
    return sorted(pairs, key=lambda p: (p[0], p[1] or ""))


class BatchWriter:
    """Auto Loader's foreachBatch: write one batch, measure it in the same pass, hand its new keys to ``on_keys``.

    The counts come from an Observation on the write itself (no second scan). A batch the checkpoint shows as
    started but not committed may already be in Delta (the write is then skipped, so nothing is observed): that
    one is measured from the table instead. Keys are checked inside the batch, before Spark commits it, so a
    crash between the write and the schema evolution is redone by the replay.
    """

    def __init__(self, ref: TableRef, app_id: str, pending: int | None, on_keys: Callable[[list[str]], None]):
        self.ref, self.app_id, self.pending, self.on_keys = ref, app_id, pending, on_keys
        # One `_ingested_at` per run, not per micro-batch: the file source orders files with equal modification
        # times arbitrarily, so an original and its correction may land in different micro-batches of one run;
        # with one timestamp the later `_source_file` still wins (the landing contract).
        self.ingested_at = F.timestamp_micros(F.lit(time.time_ns() // 1000))
        self.totals = {"rows": 0, "corrupt_rows": 0, "rescued_rows": 0}
        self.formats: set[tuple[str, str | None]] = set()  # (file, date format) of the files read
        self.batches: list[int] = []
        self.suppress: Callable[[DataFrame], DataFrame] = lambda df: df  # set to fitlake.ops.suppress.suppression

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        batch_df = batch_df.withColumn(INGESTED_AT, self.ingested_at)
        batch_df = batch_df.transform(self.suppress)
        if batch_id == self.pending:
            write_batch(batch_df, batch_id, self.ref, self.app_id)
            spark = batch_df.sparkSession
            table = delta_io.read(spark, self.ref)
            stats = table.where(F.col(BATCH_ID) == batch_id).agg(*stat_columns(table.columns)).first()
            stats = stats.asDict()
        else:
            observation = Observation(f"bronze_{uuid.uuid4().hex}")
            write_batch(batch_df.observe(observation, *stat_columns(batch_df.columns)), batch_id, self.ref, self.app_id)
            stats = observation.get
        for key in self.totals:
            self.totals[key] += int(stats.get(key) or 0)
        self.formats.update(file_formats(stats))
        keys = json.loads(stats.get("rescued_keys") or "[]")
        if keys:
            self.on_keys(keys)
        self.batches.append(batch_id)
