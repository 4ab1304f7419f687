"""Every gold formula, as pure column expressions and ``DataFrame -> DataFrame`` transforms, and the row builders of
the KPI tables (``build_kpi_wellness_daily``, ``build_kpi_engagement_daily``, ``build_kpi_sleep_efficiency``, at the
end). docs/pipeline.md's KPI table restates the formulas; change both together.

* Wellness score (0-100) = 100 x weighted mean of three components in [0, 1]:
  steps (steps / step goal, capped at 1) weight 0.4; active minutes (very + fairly active minutes / 60, capped)
  weight 0.3; sleep (1 inside 7-9 h, hours / 7 below, 1 - (hours - 9) / 3 above, floored at 0) weight 0.3.
  Missing sleep is missing, not zero: the score is renormalised over the components present (weights 0.4 + 0.3)
  and ``sleep_component_missing`` says so.
* Engagement segment: mean daily active minutes over the worn days of the trailing 7-day window that ENDS on the
  day (day - 6 .. day; no later day is used), times 7 = a weekly equivalent: High >= 150 (the WHO weekly
  guideline), Medium >= 75, else Low.
* Sleep efficiency = minutes asleep / minutes in bed; null when time in bed is 0 or missing.
Non-wear days are kept in the facts (flagged) and excluded from every KPI.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fitlake.config import DEFAULT_STEP_GOAL

WEIGHTS = {"steps": 0.4, "active": 0.3, "sleep": 0.3}
ACTIVE_MINUTES_GOAL = 60
SLEEP_IDEAL_HOURS = (7.0, 9.0)
SLEEP_OVERSLEEP_SPAN_HOURS = 3.0  # the sleep component falls from 1 at 9 h to 0 at 12 h
TRAILING_DAYS = 7
SEGMENT_THRESHOLDS = (("High", 150.0), ("Medium", 75.0))  # weekly-equivalent active minutes, checked in order
LOWEST_SEGMENT = "Low"


def _unit(x: Column) -> Column:
    """Clamp to [0, 1]; null stays null (Spark's greatest/least skip nulls, which would turn missing into 0)."""
    return F.when(x.isNotNull(), F.least(F.greatest(x, F.lit(0.0)), F.lit(1.0)))


def steps_component(steps: Column, step_goal: int = DEFAULT_STEP_GOAL) -> Column:
    return _unit(steps.cast("double") / F.lit(float(step_goal)))


def active_component(active_minutes: Column) -> Column:
    return _unit(active_minutes.cast("double") / F.lit(float(ACTIVE_MINUTES_GOAL)))


def sleep_component(sleep_hours: Column) -> Column:
    low, high = SLEEP_IDEAL_HOURS
    h = sleep_hours.cast("double")
    return (
        F.when(h.isNull(), F.lit(None).cast("double"))
        .when(h < low, _unit(h / F.lit(low)))
        .when(h <= high, F.lit(1.0))
        .otherwise(_unit(F.lit(1.0) - (h - F.lit(high)) / F.lit(SLEEP_OVERSLEEP_SPAN_HOURS)))
    )


def wellness_score(steps_c: Column, active_c: Column, sleep_c: Column) -> Column:
    """Weighted mean of the components present, x 100, one decimal; a missing sleep component is left out."""
    w = WEIGHTS
    num = w["steps"] * steps_c + w["active"] * active_c + F.coalesce(w["sleep"] * sleep_c, F.lit(0.0))
    den = F.lit(w["steps"] + w["active"]) + F.when(sleep_c.isNotNull(), F.lit(w["sleep"])).otherwise(F.lit(0.0))
    return F.round(F.lit(100.0) * num / den, 1)


def with_wellness_score(df: DataFrame, step_goal: int = DEFAULT_STEP_GOAL) -> DataFrame:
    """Needs ``steps``, ``active_minutes`` and ``sleep_hours`` (null = not measured)."""
    return (
        df.withColumn("steps_component", steps_component(F.col("steps"), step_goal))
        .withColumn("active_component", active_component(F.col("active_minutes")))
        .withColumn("sleep_component", sleep_component(F.col("sleep_hours")))
        .withColumn("sleep_component_missing", F.col("sleep_component").isNull())
        .withColumn(
            "wellness_score",
            wellness_score(F.col("steps_component"), F.col("active_component"), F.col("sleep_component")),
        )
    )


def sleep_efficiency(minutes_asleep: Column, time_in_bed: Column) -> Column:
    return F.when(time_in_bed > 0, minutes_asleep.cast("double") / time_in_bed)


def with_sleep_efficiency(df: DataFrame, asleep: str = "minutes_asleep", in_bed: str = "time_in_bed") -> DataFrame:
    return df.withColumn("sleep_efficiency", sleep_efficiency(F.col(asleep), F.col(in_bed)))


def with_trailing_mean(
    df: DataFrame, value: str, mean_col: str, count_col: str, days: int = TRAILING_DAYS, date_col: str = "date"
) -> DataFrame:
    """Per user, the mean and count of non-null ``value`` over ``date - (days-1) .. date``: past and same day only,
    so adding a later day never changes an earlier day's result. Rows must be one per user and date."""
    window = Window.partitionBy("user_id").orderBy(F.unix_date(F.col(date_col))).rangeBetween(-(days - 1), 0)
    return df.withColumn(mean_col, F.avg(value).over(window)).withColumn(count_col, F.count(value).over(window))


def engagement_segment(weekly_active_minutes: Column) -> Column:
    segment = None
    for name, threshold in SEGMENT_THRESHOLDS:
        cond = weekly_active_minutes >= threshold
        segment = F.when(cond, name) if segment is None else segment.when(cond, name)
    return F.when(weekly_active_minutes.isNull(), F.lit(None).cast("string")).otherwise(
        segment.otherwise(LOWEST_SEGMENT)
    )


def with_engagement_segment(df: DataFrame, days: int = TRAILING_DAYS) -> DataFrame:
    """Needs one row per user and worn day with ``active_minutes``."""
    return (
        df.transform(with_trailing_mean, "active_minutes", "trailing_active_minutes", "trailing_wear_days", days)
        .withColumn("weekly_active_minutes", F.col("trailing_active_minutes") * F.lit(float(days)))
        .withColumn("engagement_segment", engagement_segment(F.col("weekly_active_minutes")))
    )


def date_key(date: Column) -> Column:
    """yyyymmdd as INT, the dim_date key."""
    return (F.year(date) * 10000 + F.month(date) * 100 + F.dayofmonth(date)).cast("int")


# Row builders of the three KPI tables (gold.kpi_*), each named for its table.


def worn_days(daily: DataFrame) -> DataFrame:
    return daily.where(~F.col("is_non_wear"))


WELLNESS_INPUTS = ("daily_activity", "activity", "sleep_day")  # "activity" only ever quarantined: missing says daily_activity
SLEEP_EFFICIENCY_INPUTS = ("sleep_day",)


def incomplete_inputs(inputs: tuple[str, ...]) -> Column:
    """Which of a KPI's ``inputs`` were incomplete on the row's day, from gold.data_completeness's
    ``missing_inputs`` / ``quarantined_inputs`` (joined in): ``<input>:missing`` (no row that day) and
    ``<input>:quarantined`` (rows of that day are in quarantine), comma-separated; null when every input was
    complete or the day has no completeness row."""
    def listed(column: str, name: str) -> Column:
        return F.coalesce(F.array_contains(F.split(F.col(column), ","), name), F.lit(False))

    flags = [F.when(listed(col, name), F.lit(f"{name}:{kind}"))
             for name in inputs for col, kind in (("missing_inputs", "missing"), ("quarantined_inputs", "quarantined"))]
    joined = F.concat_ws(",", *flags)
    return F.when(joined != "", joined)


def with_incomplete_inputs(df: DataFrame, completeness: DataFrame, inputs: tuple[str, ...]) -> DataFrame:
    """``df`` (one row per user and date) plus ``incomplete_inputs`` (see incomplete_inputs)."""
    c = completeness.select("user_id", "date", "missing_inputs", "quarantined_inputs")
    return (df.join(c, ["user_id", "date"], "left")
            .withColumn("incomplete_inputs", incomplete_inputs(inputs))
            .drop("missing_inputs", "quarantined_inputs"))


def build_kpi_wellness_daily(daily: DataFrame, sleep: DataFrame, step_goal: int,
                             completeness: DataFrame) -> DataFrame:
    """Sleep hours come from the sleep log (minutes asleep / 60) when there is one, else the activity record.
    ``completeness`` = gold.data_completeness rows of the days: a row says which of its inputs were incomplete."""
    s = sleep.select("user_id", "date", (F.col("minutes_asleep") / 60.0).alias("_logged_sleep_hours"))
    return (
        worn_days(daily).join(s, ["user_id", "date"], "left")
        .withColumn("sleep_hours", F.coalesce("_logged_sleep_hours", "sleep_hours"))
        .transform(with_wellness_score, step_goal)
        .transform(with_incomplete_inputs, completeness, WELLNESS_INPUTS)
        .select("user_id", "date", "date_key", "steps", "active_minutes", "sleep_hours", "steps_component",
                "active_component", "sleep_component", "sleep_component_missing", "wellness_score",
                "incomplete_inputs")
    )


def build_kpi_engagement_daily(daily: DataFrame) -> DataFrame:
    """``daily`` must hold every worn day of the window before each wanted day (see with_engagement_segment)."""
    return (
        worn_days(daily).select("user_id", "date", "date_key", F.coalesce("active_minutes", F.lit(0)).alias("active_minutes"))
        .transform(with_engagement_segment)
    )


def build_kpi_sleep_efficiency(sleep: DataFrame, completeness: DataFrame) -> DataFrame:
    """``completeness`` = gold.data_completeness rows of the nights (see build_kpi_wellness_daily)."""
    return (
        sleep.select("user_id", "date", "date_key", "minutes_asleep", "time_in_bed", "sleep_efficiency")
        .transform(with_trailing_mean, "sleep_efficiency", "trailing_sleep_efficiency", "trailing_nights")
        .transform(with_incomplete_inputs, completeness, SLEEP_EFFICIENCY_INPUTS)
    )
