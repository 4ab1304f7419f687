"""Dimension rows, as pure functions of silver/gold DataFrames."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fitlake.gold.kpis import date_key
from fitlake.silver.validity import ACTIVITY_TYPES
from fitlake.silver.transforms import with_day_of_week
from fitlake.frames import local_frame

NO_ACTIVITY_RECORD = "none"  # key 0: a day known only from the Fitbit daily summary
ACTIVITY_TYPE_KEYS: dict[str, int] = {NO_ACTIVITY_RECORD: 0, **{t: i for i, t in enumerate(ACTIVITY_TYPES, 1)}}


def build_dim_activity_type(spark) -> DataFrame:
    """Fixed, stable keys: a type's key never changes between runs or environments."""
    return local_frame(spark, sorted((k, t) for t, k in ACTIVITY_TYPE_KEYS.items()),
                       "activity_type_key INT, activity_type STRING")


def activity_type_key(activity_type) -> F.Column:
    mapping = F.create_map(*[x for t, k in ACTIVITY_TYPE_KEYS.items() for x in (F.lit(t), F.lit(k))])
    return F.coalesce(mapping[F.coalesce(activity_type, F.lit(NO_ACTIVITY_RECORD))], F.lit(0))


def build_dim_date(dates: DataFrame) -> DataFrame:
    """One row per distinct ``date``; weeks start on Monday (ISO)."""
    return (
        dates.select("date").where(F.col("date").isNotNull()).distinct()
        .transform(with_day_of_week, "date")
        .select(
            date_key(F.col("date")).alias("date_key"),
            "date",
            F.year("date").alias("year"),
            F.month("date").alias("month"),
            F.dayofmonth("date").alias("day_of_month"),
            "day_of_week",
            "is_weekend",
            F.date_trunc("week", F.col("date")).cast("date").alias("week_start"),
        )
    )


def build_dim_user(users: DataFrame, daily: DataFrame, sleep: DataFrame, weight: DataFrame) -> DataFrame:
    """One row per user in ``users``: tracking span and wear from the daily fact, data availability, latest weight.
    ``daily``/``sleep`` are gold facts and ``weight`` is silver.weight_log, whole or limited to these users: each is
    aggregated per user (a partial aggregation before its one shuffle of a row per user) and then joined to
    ``users``, so other users' rows count for nothing."""
    # Two levels: each fact row feeds only a few plain aggregates per (user, source, wear) group (in interpreted
    # plans every aggregate costs per row: the two source tests alone were ~40% of this aggregation), and each
    # user's figures come from those few groups. The same values: the steps are summed exactly (a bigint), so
    # their mean over the wear days is the one division avg() makes.
    wear = ~F.col("is_non_wear")
    d = (
        daily.groupBy("user_id", "source", "is_non_wear")
        .agg(F.min("date").alias("_first"), F.max("date").alias("_last"), F.count(F.lit(1)).alias("_days"),
             F.sum("steps").alias("_steps"), F.count("steps").alias("_step_days"))
        .groupBy("user_id")
        .agg(
            F.min("_first").alias("first_date"),
            F.max("_last").alias("last_date"),
            F.sum("_days").cast("int").alias("days_tracked"),
            F.sum(F.when(F.col("is_non_wear"), F.col("_days")).otherwise(0)).cast("int").alias("non_wear_days"),
            (F.sum(F.when(wear, F.col("_steps"))) / F.sum(F.when(wear, F.col("_step_days")))).alias("avg_daily_steps"),
            F.max(F.col("source").isin("fitbit", "both")).alias("has_fitbit_data"),
            F.max(F.col("source").isin("activity", "both")).alias("has_activity_records"),
        )
    )
    s = sleep.groupBy("user_id").agg(F.count(F.lit(1)).cast("int").alias("sleep_nights"))
    w = weight.groupBy("user_id").agg(
        F.max_by("weight_kg", "log_time").alias("latest_weight_kg"),
        F.max_by("bmi", "log_time").alias("latest_bmi"),
        F.count(F.lit(1)).cast("int").alias("weight_logs"),
    )
    return (
        users.select("user_id").distinct()
        .join(d, "user_id", "left").join(s, "user_id", "left").join(w, "user_id", "left")
        .select(
            "user_id", "first_date", "last_date",
            F.coalesce("days_tracked", F.lit(0)).alias("days_tracked"),
            F.coalesce("non_wear_days", F.lit(0)).alias("non_wear_days"),
            "avg_daily_steps",
            F.coalesce("has_fitbit_data", F.lit(False)).alias("has_fitbit_data"),
            F.coalesce("has_activity_records", F.lit(False)).alias("has_activity_records"),
            F.coalesce("sleep_nights", F.lit(0)).alias("sleep_nights"),
            F.coalesce("weight_logs", F.lit(0)).alias("weight_logs"),
            "latest_weight_kg", "latest_bmi",
        )
    )
