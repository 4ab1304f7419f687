"""Pure ``DataFrame -> DataFrame`` feature builders for the four models.

Per-user history (a user's calorie baseline) is learned inside the calories pipeline from training rows only, as a
one-hot user effect; nothing here looks at the test period, so a feature builder can be applied before the split.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

ACTIVITY_TYPES = ("walking", "running", "cycling", "swimming", "yoga", "gym_workout", "hiking")

# Model inputs, by source. Keep names identical to the silver/gold contract so scoring reads the tables as-is.
ACTIVITY_NUMERIC = (
    "steps", "calories_burned", "heart_rate_avg", "sleep_hours", "duration_minutes", "distance_km",
    "calories_to_steps_ratio", "speed_kmh", "steps_per_minute", "is_weekend_num",
)
CALORIES_ACTIVITY_NUMERIC = ("steps", "duration_minutes", "distance_km", "heart_rate_avg", "speed_kmh")
CALORIES_ACTIVITY_CATEGORICAL = ("user_id", "activity_type", "day_of_week")
CALORIES_FITBIT_NUMERIC = (
    "total_steps", "total_distance", "very_active_distance", "moderately_active_distance", "light_active_distance",
    "very_active_minutes", "fairly_active_minutes", "lightly_active_minutes", "sedentary_minutes", "worn_minutes",
)
CALORIES_FITBIT_CATEGORICAL = ("user_id", "day_of_week")


def _safe_ratio(num: Column, den: Column) -> Column:
    """num / den, null when den is 0 or null (Spark would also give null, but say it on purpose)."""
    return F.when(den != 0, num / den)


def with_calendar(date_col: str):
    """Add ``day_of_week`` (1=Mon..7=Sun) and ``is_weekend`` when a frame does not carry them yet."""

    def _(df: DataFrame) -> DataFrame:
        dow = ((F.dayofweek(F.col(date_col)) + 5) % 7) + 1
        out = df if "day_of_week" in df.columns else df.withColumn("day_of_week", dow)
        return out if "is_weekend" in out.columns else out.withColumn("is_weekend", F.col("day_of_week") >= 6)

    return _


def with_activity_intensity(df: DataFrame) -> DataFrame:
    """Speed and cadence separate running from walking better than raw totals do."""
    hours = F.col("duration_minutes") / F.lit(60.0)
    return (
        df.withColumn("speed_kmh", _safe_ratio(F.col("distance_km").cast("double"), hours))
        .withColumn("steps_per_minute", _safe_ratio(F.col("steps").cast("double"), F.col("duration_minutes")))
        .withColumn("is_weekend_num", F.col("is_weekend").cast("double"))
    )


def with_worn_minutes(df: DataFrame) -> DataFrame:
    """Minutes the tracker recorded: a partial last day of an export burns proportionally fewer calories."""
    parts = ["very_active_minutes", "fairly_active_minutes", "lightly_active_minutes", "sedentary_minutes"]
    return df.withColumn("worn_minutes", sum((F.col(c) for c in parts[1:]), F.col(parts[0])))


def filter_wear_days(steps_col: str | None = None):
    """Keep days the device was worn: on non-wear days Fitbit reports a BMR placeholder (or 0), not a measurement.

    A daily Fitbit row with 0 steps is a non-wear day too; an activity record (a swim) may have 0 steps, so pass
    ``steps_col`` only for daily totals.
    """

    def _(df: DataFrame) -> DataFrame:
        worn = ~F.coalesce(F.col("is_non_wear"), F.lit(False)) if "is_non_wear" in df.columns else F.lit(True)
        return df.where(worn & (F.col(steps_col) > 0)) if steps_col else df.where(worn)

    return _


def with_doubles(cols: tuple[str, ...]):
    """Cast model inputs to DOUBLE: Imputer and VectorAssembler want one numeric type."""

    def _(df: DataFrame) -> DataFrame:
        return df.withColumns({c: F.col(c).cast("double") for c in cols})

    return _


def activity_features(activity: DataFrame) -> DataFrame:
    """silver.activity -> the per-record frame the activity-type and calories models train and score on."""
    return (
        activity.transform(with_calendar("date"))
        .transform(with_activity_intensity)
        .transform(with_doubles(("steps", "calories_burned", "heart_rate_avg", "sleep_hours", "duration_minutes",
                                 "distance_km", "calories_to_steps_ratio")))
    )


def fitbit_daily_features(daily: DataFrame) -> DataFrame:
    """silver.daily_activity -> the per-day frame of the Fitbit calories model (``date`` named as everywhere else)."""
    return (
        daily.withColumnRenamed("activity_date", "date")
        .transform(with_calendar("date"))
        .transform(with_worn_minutes)
        .withColumn("calories", F.col("calories").cast("double"))
        .transform(with_doubles(CALORIES_FITBIT_NUMERIC))
    )


def daily_from_silver(daily: DataFrame) -> DataFrame:
    """silver.daily_activity in the shape of gold.fact_daily_activity, for when gold is not built yet."""
    return daily.select(
        "user_id",
        F.col("activity_date").alias("date"),
        F.col("total_steps").alias("steps"),
        F.col("total_distance").alias("distance_km"),
        "calories", "very_active_minutes", "fairly_active_minutes", "lightly_active_minutes", "sedentary_minutes",
        (F.col("very_active_minutes") + F.col("fairly_active_minutes") + F.col("lightly_active_minutes"))
        .alias("total_active_minutes"),
        "is_non_wear",
    )


def user_daily_behaviour(daily: DataFrame) -> DataFrame:
    """Per-user averages over worn days of gold.fact_daily_activity, plus how often the device was worn at all."""
    worn = ~F.coalesce(F.col("is_non_wear"), F.lit(False))

    def avg_worn(c: str) -> Column:
        return F.avg(F.when(worn, F.col(c).cast("double")))

    return daily.groupBy("user_id").agg(
        avg_worn("steps").alias("avg_steps"),
        F.avg(F.when(worn, (F.col("very_active_minutes") + F.col("fairly_active_minutes")).cast("double")))
        .alias("avg_active_minutes"),
        avg_worn("sedentary_minutes").alias("avg_sedentary_minutes"),
        avg_worn("calories").alias("avg_calories"),
        F.avg(worn.cast("double")).alias("wear_share"),
    )


def user_sleep_behaviour(sleep: DataFrame) -> DataFrame:
    """Per-user sleep averages from gold.fact_sleep."""
    return sleep.groupBy("user_id").agg(
        F.avg(F.col("minutes_asleep").cast("double")).alias("avg_minutes_asleep"),
        F.avg(F.col("sleep_efficiency").cast("double")).alias("avg_sleep_efficiency"),
    )


def user_activity_mix(activity: DataFrame) -> DataFrame:
    """Share of a user's activity records per activity type (fixed column set, so the model schema is stable)."""
    counts = activity.where(F.col("activity_type").isin(*ACTIVITY_TYPES)).groupBy("user_id").pivot(
        "activity_type", list(ACTIVITY_TYPES)).count()
    total = sum((F.coalesce(F.col(t), F.lit(0)) for t in ACTIVITY_TYPES), F.lit(0))
    return counts.select(
        "user_id", *[(F.coalesce(F.col(t), F.lit(0)) / total).alias(f"share_{t}") for t in ACTIVITY_TYPES]
    )


def user_behaviour(daily: DataFrame, sleep: DataFrame | None = None, activity: DataFrame | None = None) -> DataFrame:
    """One row per user of ``daily`` with every behaviour feature group that has data; missing groups stay null."""
    out = daily.transform(user_daily_behaviour)
    if sleep is not None:
        out = out.join(sleep.transform(user_sleep_behaviour), "user_id", "left")
    if activity is not None:
        out = out.join(activity.transform(user_activity_mix), "user_id", "left")
    return out


def interaction_counts(activity: DataFrame) -> DataFrame:
    """How often each user did each activity type: the implicit ratings of the recommender."""
    return (
        activity.where(F.col("user_id").isNotNull() & F.col("activity_type").isNotNull())
        .groupBy("user_id", "activity_type")
        .agg(F.count(F.lit(1)).cast("double").alias("n"))
    )


def top_k_per_user(k: int, score_col: str = "score", item_col: str = "activity_type"):
    """Keep each user's ``k`` best-scored items with their 1-based ``rank`` (ties broken by item name)."""

    def _(df: DataFrame) -> DataFrame:
        w = Window.partitionBy("user_id").orderBy(F.col(score_col).desc(), F.col(item_col))
        return df.withColumn("rank", F.row_number().over(w)).where(F.col("rank") <= k)

    return _
