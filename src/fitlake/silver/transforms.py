"""Pure ``DataFrame -> DataFrame`` steps from bronze text to silver rows, chained with ``df.transform``.

Raw bronze columns travel in one ``_raw`` struct until the split (the lineage columns beside it, once), so a
quarantined row is written back exactly as it arrived, in bronze's column order (plus the rule that failed), while
the typed columns use the silver names.
"""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fitlake.bronze.formats import DATE_FORMAT, file_order
from fitlake.silver.parsing import clean_text, parse_text
from fitlake.sqltext import identifier, string_literal

LINEAGE = ("_source_file", "_ingested_at", "_line")
RAW_COLUMNS = "fitlake.bronze_columns"
"""Metadata of the ``_raw`` column: the bronze row's column names in order (``to_quarantine_rows`` rebuilds it)."""
NON_WEAR_SEDENTARY_MINUTES = 1440


DATE_ORDER = "_date_order"
"""Working column: the date order each row's Fitbit dates are read in (``fitlake.bronze.formats.file_order``)."""


def text_column(source: str) -> str:
    """Working column: bronze field ``source`` as cleaned text (``parsing.clean_text``: trimmed, empty = null), the
    one value the field's parse and its rules (``expectations``) read."""
    return f"_text_{source}"


def with_typed_columns(df: DataFrame, columns: Sequence, date_order: str | None = None) -> DataFrame:
    """Pack the bronze row into ``_raw`` and add each typed column (``Col(name, source, kind)``) next to it. The
    lineage columns (``LINEAGE``) stay top-level and are not packed again: a batch's typed rows are kept on disk
    (``merge.keep``), and the file path is the longest value of most rows.

    Fitbit dates are read in their file's own order (bronze ``_date_format``); a file whose values do not decide
    it uses ``date_order`` (the user's setting: ``month_first`` / ``day_first``), else its dates stay null and the
    rows fail ``<col>_date_order_undecided_set_date_order``.

    Each field is cleaned once into its ``text_column`` (kept: the silver rules read it, ``silver.job.typed_rows``
    drops it after them) and parsed from it."""
    packed = [c for c in df.columns if c not in LINEAGE]
    raw = F.expr(f"struct({', '.join(identifier(c) for c in packed)})").alias(
        "_raw", metadata={RAW_COLUMNS: list(df.columns)})
    present = set(df.columns)

    def source(c) -> str:
        return identifier(c.source) if c.source in present else "CAST(NULL AS STRING)"

    fmt = F.col(DATE_FORMAT) if DATE_FORMAT in present else F.lit(None).cast("string")
    order = file_order(fmt, date_order)
    # SQL text (``parsing``): one Py4J call per column and step
    texts = {c.source: F.expr(clean_text(source(c))).alias(text_column(c.source)) for c in columns}
    kept = [F.col(identifier(text_column(s))) for s in texts]
    typed = [F.expr(parse_text(identifier(text_column(c.source)), c.kind, DATE_ORDER)).alias(c.name) for c in columns]
    lineage = [F.col(c) for c in LINEAGE]
    cleaned = df.select(raw, *lineage, order.alias(DATE_ORDER), *texts.values())
    return cleaned.select("_raw", *lineage, F.col(DATE_ORDER), *typed, *kept)


def failed_rule(rules: Sequence[tuple[str, str]]) -> Column:
    """Name of the first rule whose condition is not true (null counts as failed), else null. One SQL expression
    (one call into the JVM, not several per rule)."""
    if not rules:
        return F.lit(None).cast("string")
    cases = [f"CASE WHEN NOT coalesce(({cond}), false) THEN {string_literal(name)} END" for name, cond in rules]
    return F.expr(f"coalesce({', '.join(cases)})")


def with_failed_rule(df: DataFrame, rules: Sequence[tuple[str, str]]) -> DataFrame:
    return df.withColumn("_rule", failed_rule(rules))


DELIVERY_PATH_SQL = "regexp_replace({c}, '([.][A-Za-z0-9]+)+$', '')"
"""A file's place in the delivery order: its path without the file-name extension(s), so a re-downloaded copy
``dailyActivity_merged (1).csv`` sorts AFTER ``dailyActivity_merged.csv`` in the same folder (with the extension a
space would sort before the dot)."""

DELIVERY_ORDER_DOC = """Which delivery of a key is the newest, most significant first: the file path without extension
(``DELIVERY_PATH_SQL``; the landing contract: day and export folders are named so they sort in time, and a
corrections file or a re-downloaded ``(1)`` copy sorts after the file it corrects), then the ingest time (the same
path delivered again, e.g. a file rewritten in place), then the line. Arrival order alone never decides: a file that
arrives late but sorts before the one silver holds is a stale re-delivery (``merge.NEWER_SQL``), so the result does
not depend on the order files arrived in or on how runs and micro-batches split them."""


def delivery_path(column: str = "_source_file") -> Column:
    return F.expr(DELIVERY_PATH_SQL.format(c=column))


def _delivery_order_desc(first: Sequence[Column] = ()) -> list[Column]:
    order = [delivery_path(), F.col("_source_file"), F.col("_ingested_at"), F.col("_line")]
    return [*first, *[c.desc_nulls_last() for c in order]]


def _rank_window(keys: Sequence[str], valid: str | None):
    first = [F.col(valid).desc()] if valid else []
    return Window.partitionBy(*keys).orderBy(*_delivery_order_desc(first))


def with_latest_rank(df: DataFrame, keys: Sequence[str], valid: str | None = None) -> DataFrame:
    """``_dup_rank`` 1 for the version of each key that wins: the latest delivery (``DELIVERY_ORDER_DOC``: later
    file path, then later ingest, then later line). With ``valid`` (a boolean column), rows where it is true rank first,
    so among them ``_dup_rank`` is their rank among the valid rows of the key."""
    return df.withColumn("_dup_rank", F.row_number().over(_rank_window(keys, valid)))


def with_stale_redeliveries(df: DataFrame, keys: Sequence[str], value_columns: Sequence[str],
                            rule: str = "stale_redelivery", valid: str = "_valid") -> DataFrame:
    """After ``with_latest_rank(df, keys, valid)``: a valid row that lost to a newer delivery of its key but was
    INGESTED LATER than that winner, with other values (an old file re-sent after its correction), gets ``rule`` and
    stops being valid. A loser ingested in the same run as the winner is an ordinary superseded version (counted as
    a duplicate). The same rule as ``merge.classify_changes`` applies against the stored rows, so the outcome does
    not depend on whether silver ran between the two deliveries."""
    window = _rank_window(keys, valid)
    values = F.struct(*[F.col(f"`{c}`") for c in value_columns])
    stale = (
        F.col(valid) & (F.col("_dup_rank") > 1)
        & (F.col("_ingested_at") > F.first("_ingested_at").over(window))
        & ~values.eqNullSafe(F.first(values).over(window))
    )
    stale = F.coalesce(stale, F.lit(False))
    return (df.withColumn("_stale", stale)
            .withColumn("_rule", F.when(F.col("_stale"), F.lit(rule)).otherwise(F.col("_rule")))
            .withColumn(valid, F.col(valid) & ~F.col("_stale")).drop("_stale"))


def with_delivery_conflicts(df: DataFrame, keys: Sequence[str], value_columns: Sequence[str],
                            rule: str = "conflicting_values_in_delivery") -> DataFrame:
    """Set ``_rule`` to ``rule`` on every still-valid row (``_rule`` null) whose key has another still-valid row
    with DIFFERENT typed values in the same file (one delivery contradicting itself: no line order can say which is
    right, so all of them are quarantined). Rows with equal values stay valid (exact duplicates are de-duplicated
    later). Compared on typed values, so ``1.0`` and ``1`` agree."""
    ok = F.col("_rule").isNull()
    values = F.when(ok, F.struct(*[F.col(f"`{c}`") for c in value_columns]))
    # all rows of the key in the same file: a RANGE frame on the file path selects exactly its peers, and the window
    # shares its partitioning (the key) with with_latest_rank's, so the batch is shuffled once
    same_file = Window.partitionBy(*keys).orderBy("_source_file").rangeBetween(Window.currentRow, Window.currentRow)
    conflict = ok & ~F.min(values).over(same_file).eqNullSafe(F.max(values).over(same_file))
    return df.withColumn("_rule", F.when(conflict, F.lit(rule)).otherwise(F.col("_rule")))


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
    """The raw bronze row as it arrived (``_raw`` and the lineage columns, in bronze's order), plus the rule that
    failed and when."""
    field = df.schema["_raw"]
    packed = set(field.dataType.fieldNames())
    order = field.metadata.get(RAW_COLUMNS) or [*field.dataType.fieldNames(), *LINEAGE]
    raw = [F.col(f"_raw.`{c}`").alias(c) if c in packed else F.col(f"`{c}`") for c in order]
    return df.select(*raw, "_rule", F.current_timestamp().alias("_quarantined_at"))


def to_silver_rows(df: DataFrame, columns: Sequence[str], features: Sequence = ()) -> DataFrame:
    """Typed columns, then derived features, then lineage."""
    out = df.select(*columns, "_source_file", "_ingested_at")
    for feature in features:
        out = out.transform(feature)
    data = [c for c in out.columns if not c.startswith("_")]
    return out.select(*data, "_source_file", "_ingested_at", F.current_timestamp().alias("_updated_at"))
