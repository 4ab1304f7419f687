"""Pure ``DataFrame -> DataFrame`` steps from bronze text to silver rows, chained with ``df.transform``.

Raw bronze columns travel in one ``_raw`` struct until the split, so a quarantined row is written back exactly as
it arrived (plus the rule that failed) while the typed columns use the silver names.
"""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fitlake.silver.parsing import parse

LINEAGE = ("_source_file", "_ingested_at", "_line")
NON_WEAR_SEDENTARY_MINUTES = 1440


def with_typed_columns(df: DataFrame, columns: Sequence) -> DataFrame:
    """Pack the bronze row into ``_raw`` and add each typed column (``Col(name, source, kind)``) next to it."""
    raw = F.struct(*[F.col(f"`{c}`") for c in df.columns]).alias("_raw")
    present = set(df.columns)

    def source(c) -> Column:
        return F.col(f"`{c.source}`") if c.source in present else F.lit(None).cast("string")

    typed = [parse(source(c), c.kind).alias(c.name) for c in columns]
    lineage = [F.col(c) for c in LINEAGE]
    return df.select(raw, *lineage, *typed)


def failed_rule(rules: Sequence[tuple[str, str]]) -> Column:
    """Name of the first rule whose condition is not true (null counts as failed), else null."""
    if not rules:
        return F.lit(None).cast("string")
    return F.coalesce(*[F.when(~F.coalesce(F.expr(cond), F.lit(False)), F.lit(name)) for name, cond in rules])


def with_failed_rule(df: DataFrame, rules: Sequence[tuple[str, str]]) -> DataFrame:
    return df.withColumn("_rule", failed_rule(rules))


def with_latest_rank(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    """``_dup_rank`` 1 for the version of each key that wins: latest ingest, then later file, then later line."""
    window = Window.partitionBy(*keys).orderBy(
        F.col("_ingested_at").desc_nulls_last(), F.col("_source_file").desc_nulls_last(), F.col("_line").desc_nulls_last()
    )
    return df.withColumn("_dup_rank", F.row_number().over(window))


def with_calories_to_steps_ratio(df: DataFrame, calories: str = "calories", steps: str = "steps") -> DataFrame:
    """Calories per step; null (not infinity, not an ANSI error) when steps is 0 or missing."""
    ratio = F.when(F.col(steps) != 0, F.col(calories).cast("double") / F.col(steps))
    return df.withColumn("calories_to_steps_ratio", ratio)


def with_day_of_week(df: DataFrame, date_col: str = "date") -> DataFrame:
    """ISO day of week (1 = Monday .. 7 = Sunday) and ``is_weekend``; Spark's ``dayofweek`` starts on Sunday."""
    dow = (F.dayofweek(date_col) + 5) % 7 + 1
    return df.withColumn("day_of_week", dow).withColumn("is_weekend", dow >= 6)


def flag_non_wear_days(
    df: DataFrame,
    steps: str = "steps",
    active_minutes: Sequence[str] = (),
    sedentary_minutes: str | None = None,
) -> DataFrame:
    """Flag, never drop, days the tracker was not worn: a full 1440 sedentary minutes, or no steps and no active
    minutes. Missing minutes count as zero; a missing step count alone does not make a day non-wear."""
    active = sum((F.coalesce(F.col(c), F.lit(0)) for c in active_minutes), F.lit(0))
    idle = (F.col(steps) == 0) & (active == 0)
    if sedentary_minutes is not None:
        idle = idle | (F.col(sedentary_minutes) == NON_WEAR_SEDENTARY_MINUTES)
    return df.withColumn("is_non_wear", F.coalesce(idle, F.lit(False)))


def to_quarantine_rows(df: DataFrame) -> DataFrame:
    """The raw bronze row as it arrived, plus the rule that failed and when."""
    return df.select("_raw.*", "_rule", F.current_timestamp().alias("_quarantined_at"))


def to_silver_rows(df: DataFrame, columns: Sequence[str], features: Sequence = ()) -> DataFrame:
    """Typed columns, then derived features, then lineage."""
    out = df.select(*columns, "_source_file", "_ingested_at")
    for feature in features:
        out = out.transform(feature)
    data = [c for c in out.columns if not c.startswith("_")]
    return out.select(*data, "_source_file", "_ingested_at", F.current_timestamp().alias("_updated_at"))
