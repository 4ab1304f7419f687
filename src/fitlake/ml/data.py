"""Reading the model inputs at the edge: a missing or empty table means "skip this model", never a crash."""

from __future__ import annotations

import hashlib
import json

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.config import Settings
from fitlake.ml import features as fx
from fitlake.ml import lineage


class Skip(Exception):
    """The model cannot be trained or scored with the data at hand; the message says why and what to run."""


def read_optional(spark, settings: Settings, layer: str, name: str) -> DataFrame | None:
    """The table as of its current Delta version, or None when it does not exist or has no rows. Inside
    ``lineage.recording()`` the read (table + version) is remembered for the run's dataset inputs."""
    ref = settings.table(layer, name)
    if not delta_io.exists(spark, ref):
        return None
    df, table = lineage.read_pinned(spark, ref)
    if df.isEmpty():
        return None
    lineage.note(df, table)
    return df


def read_required(spark, settings: Settings, layer: str, name: str, model: str) -> DataFrame:
    df = read_optional(spark, settings, layer, name)
    if df is None:
        raise Skip(f"{model}: {layer}.{name} is missing or empty; run `fitlake run` first")
    return df


def persona_inputs(spark, settings: Settings) -> DataFrame:
    """Per-user behaviour: gold.fact_daily_activity (or silver.daily_activity before gold exists), sleep from
    gold.fact_sleep and the activity mix from silver.activity when those have data."""
    daily = read_optional(spark, settings, "gold", "fact_daily_activity")
    if daily is None:
        silver = read_optional(spark, settings, "silver", "daily_activity")
        if silver is None:
            raise Skip("personas: neither gold.fact_daily_activity nor silver.daily_activity has rows; "
                       "run `fitlake run` first")
        daily = fx.daily_from_silver(silver)
    return fx.user_behaviour(daily, read_optional(spark, settings, "gold", "fact_sleep"),
                             read_optional(spark, settings, "silver", "activity"))


def non_null_columns(df: DataFrame, cols: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of ``cols`` present in ``df`` with at least one value (an all-null column cannot be imputed)."""
    present = [c for c in cols if c in df.columns]
    if not present:
        return ()
    row = df.agg(*[F.count(c).alias(c) for c in present]).first()
    return tuple(c for c in present if row[c] > 0)


def fingerprint(df: DataFrame, cols: list[str], definition: dict) -> str:
    """Identity of a data set (a test set, a trainer's whole input): its definition (split, cutoff, model inputs)
    plus row count and an order-independent content hash."""
    row = df.agg(F.count(F.lit(1)).alias("n"),
                 F.sum(F.xxhash64(*[F.col(c) for c in cols]).cast("decimal(38,0)")).alias("h")).first()
    payload = json.dumps({**definition, "n": int(row["n"]), "h": str(row["h"])}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def lineage_time(df: DataFrame) -> DataFrame:
    """``_input_updated_at``: when the row last changed in silver (what incremental scoring compares)."""
    cols = [F.col(c) for c in ("_updated_at", "_ingested_at") if c in df.columns]
    value = F.coalesce(*cols, F.lit(None).cast("timestamp")) if cols else F.lit(None).cast("timestamp")
    return df.withColumn("_input_updated_at", value.cast("timestamp"))
