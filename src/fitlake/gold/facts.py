"""Fact rows (``gold.fact_*``), as pure functions of silver DataFrames already limited to the affected keys; each
builder is named for its table (``build_<table>``). The KPI tables are built in kpis.py.

``fact_daily_activity`` (grain: user x date) combines the two daily sources with one rule: the Fitbit daily
summary (silver.daily_activity) is the measurement, so its steps, distance, calories and intensity minutes win
when present; the activity record (silver.activity) adds what only it has (activity type, session duration, average
heart rate, sleep hours) and supplies steps/distance/calories and, as ``duration_minutes``, the active minutes on
days without a Fitbit summary. ``source`` says which were present (fitbit / activity / both).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fitlake.gold import kpis
from fitlake.gold.dims import activity_type_key


def build_fact_daily_activity(daily_activity: DataFrame, activity: DataFrame) -> DataFrame:
    da = daily_activity.withColumnRenamed("activity_date", "date").alias("da")
    a = activity.alias("a")
    j = da.join(a, (F.col("da.user_id") == F.col("a.user_id")) & (F.col("da.date") == F.col("a.date")), "full")
    has_da, has_a = F.col("da.user_id").isNotNull(), F.col("a.user_id").isNotNull()
    very, fairly, light = (F.col(f"da.{c}") for c in ("very_active_minutes", "fairly_active_minutes",
                                                      "lightly_active_minutes"))
    date = F.coalesce(F.col("da.date"), F.col("a.date"))
    return j.select(
        F.coalesce(F.col("da.user_id"), F.col("a.user_id")).alias("user_id"),
        date.alias("date"),
        kpis.date_key(date).alias("date_key"),
        activity_type_key(F.col("a.activity_type")).alias("activity_type_key"),
        F.col("a.activity_type").alias("activity_type"),
        F.coalesce(F.col("da.total_steps"), F.col("a.steps")).alias("steps"),
        F.coalesce(F.col("da.total_distance"), F.col("a.distance_km")).alias("distance_km"),
        F.coalesce(F.col("da.calories").cast("double"), F.col("a.calories_burned")).alias("calories"),
        very.alias("very_active_minutes"),
        fairly.alias("fairly_active_minutes"),
        light.alias("lightly_active_minutes"),
        F.col("da.sedentary_minutes").alias("sedentary_minutes"),
        F.coalesce(very + fairly + light, F.col("a.duration_minutes")).alias("total_active_minutes"),
        F.coalesce(very + fairly, F.col("a.duration_minutes")).alias("active_minutes"),
        F.col("a.duration_minutes").alias("duration_minutes"),
        F.col("a.heart_rate_avg").alias("heart_rate_avg"),
        F.col("a.sleep_hours").alias("sleep_hours"),
        F.coalesce(F.col("da.is_non_wear"), F.col("a.is_non_wear"), F.lit(False)).alias("is_non_wear"),
        F.when(has_da & has_a, "both").when(has_da, "fitbit").otherwise("activity").alias("source"),
    )


def build_fact_sleep(sleep_day: DataFrame) -> DataFrame:
    return (
        sleep_day.select(
            "user_id",
            F.col("sleep_date").alias("date"),
            kpis.date_key(F.col("sleep_date")).alias("date_key"),
            F.col("total_minutes_asleep").alias("minutes_asleep"),
            F.col("total_time_in_bed").alias("time_in_bed"),
            F.col("total_sleep_records").alias("sleep_records"),
        )
        .transform(kpis.with_sleep_efficiency)
    )


HOURLY_INPUTS = ("hourly_steps", "hourly_calories", "hourly_intensities")


def missing_inputs(present: dict[str, str]) -> F.Column:
    """Completeness of a combined row: the names of the inputs (``{input: presence column}``) that have no row for
    it, comma-separated in the given order; null when every input is there. An input's row may be missing because
    the file lacked it or because its rows were quarantined (see ``quarantine.<input>``)."""
    names = [F.when(F.col(flag).isNull(), F.lit(name)) for name, flag in present.items()]
    joined = F.concat_ws(",", *names)
    return F.when(joined != "", joined)


def build_fact_hourly_activity(steps: DataFrame, calories: DataFrame, intensities: DataFrame) -> DataFrame:
    keys = ["user_id", "activity_hour"]
    joined = (
        steps.select(*keys, F.col("step_total").alias("steps"), F.lit(True).alias("_has_steps"))
        .join(calories.select(*keys, "calories", F.lit(True).alias("_has_calories")), keys, "full")
        .join(intensities.select(*keys, "total_intensity", "average_intensity", F.lit(True).alias("_has_intensities")),
              keys, "full")
    )
    present = dict(zip(HOURLY_INPUTS, ("_has_steps", "_has_calories", "_has_intensities")))
    return joined.select(
        "user_id", "activity_hour",
        F.to_date("activity_hour").alias("date"),
        F.hour("activity_hour").alias("hour"),
        "steps", "calories", "total_intensity", "average_intensity",
        missing_inputs(present).alias("missing_inputs"),
    )


def build_fact_heart_rate(heartrate: DataFrame) -> DataFrame:
    """Per-hour summary of the per-second samples (the raw seconds stay in silver)."""
    hour = F.date_trunc("hour", F.col("time"))
    return (
        heartrate.groupBy("user_id", hour.alias("hour"))
        .agg(
            F.avg("value").alias("avg_bpm"),
            F.min("value").alias("min_bpm"),
            F.max("value").alias("max_bpm"),
            F.count(F.lit(1)).alias("samples"),
        )
        .select("user_id", "hour", F.to_date("hour").alias("date"), "avg_bpm", "min_bpm", "max_bpm", "samples")
    )


# The per-day inputs gold.data_completeness checks, in the order ``missing_inputs`` names them. ``daily_activity``
# stands for the day's record from either daily file (the Fitbit summary or the activity export).
COMPLETENESS_INPUTS = ("daily_activity", "sleep_day", *HOURLY_INPUTS, "heartrate_seconds")
# The silver tables behind them (the quarantine inputs ``quarantined_inputs`` can name), both daily files apart.
COMPLETENESS_SOURCES = ("daily_activity", "activity", "sleep_day", *HOURLY_INPUTS, "heartrate_seconds")
HOURS_PER_DAY = 24


def build_data_completeness(daily_activity: DataFrame, activity: DataFrame, sleep_day: DataFrame,
                            hourly: DataFrame, heart_rate: DataFrame, quarantined: DataFrame) -> DataFrame:
    """Per user and day, which silver inputs of that day are there, missing, or had rows quarantined.

    Inputs, each already limited to the wanted keys: ``daily_activity``, ``activity``, ``sleep_day`` as
    ``(user_id, date)`` rows; ``hourly`` = gold.fact_hourly_activity rows ``(user_id, date, missing_inputs)``;
    ``heart_rate`` = gold.fact_heart_rate rows ``(user_id, date)`` (one per hour with samples); ``quarantined`` =
    ``(user_id, date, input, rows)``: rows of ``quarantine.<input>`` (``input`` one of ``COMPLETENESS_SOURCES``)
    whose user and day could still be read. One row per (user, day) seen in any of them. ``hourly_complete_hours``
    counts the hours that have all three hourly inputs, ``hourly_coverage`` = that / 24; an hourly input is missing
    for the day when it has fewer than 24 hours; ``missing_inputs`` names the missing inputs, ``quarantined_inputs``
    the inputs with quarantined rows that day (both null when none, names in alphabetical order); ``is_complete`` =
    neither.

    One aggregation of the inputs' rows unioned (one shuffle, fixed-width sums, maxima and a bit mask of the
    quarantined inputs: a hash aggregation), not a full outer join of per-input aggregates."""
    keys = ["user_id", "date"]
    names = sorted(COMPLETENESS_SOURCES)
    counts = ["_has_da", "_has_a", "_has_sleep", "_complete_hours", *[f"_{n}_hours" for n in HOURLY_INPUTS],
              "_hr_hours", "_q_rows", "_q_bits"]
    types = {c: "boolean" if c.startswith("_has_") else "bigint" for c in counts}

    def part(df: DataFrame, **values: F.Column) -> DataFrame:
        return df.select(*keys, *[values.get(c, F.lit(None)).cast(t).alias(c) for c, t in types.items()])

    def has_input(name: str) -> F.Column:
        return F.col("missing_inputs").isNull() | ~F.array_contains(F.split("missing_inputs", ","), name)

    one = F.lit(1)
    bit = F.coalesce(*[F.when(F.col("input") == n, F.lit(1 << i)) for i, n in enumerate(names)])
    parts = [
        part(daily_activity, _has_da=F.lit(True)),
        part(activity, _has_a=F.lit(True)),
        part(sleep_day, _has_sleep=F.lit(True)),
        part(hourly, _complete_hours=F.when(F.col("missing_inputs").isNull(), 1).otherwise(0),
             **{f"_{n}_hours": F.when(has_input(n), 1).otherwise(0) for n in HOURLY_INPUTS}),
        part(heart_rate, _hr_hours=one),
        part(quarantined, _q_rows=F.col("rows"), _q_bits=bit),
    ]
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p)
    per_day = union.groupBy(*keys).agg(
        *[(F.max(c) if t == "boolean" else F.bit_or(c) if c == "_q_bits" else F.sum(c)).alias(c)
          for c, t in types.items()])
    complete_hours = F.coalesce(F.col("_complete_hours"), F.lit(0))
    hr_hours = F.coalesce(F.col("_hr_hours"), F.lit(0))
    missing = {
        "daily_activity": F.col("_has_da").isNull() & F.col("_has_a").isNull(),
        "sleep_day": F.col("_has_sleep").isNull(),
        **{n: F.coalesce(F.col(f"_{n}_hours"), F.lit(0)) < HOURS_PER_DAY for n in HOURLY_INPUTS},
        "heartrate_seconds": hr_hours == 0,
    }
    missing_names = F.concat_ws(",", *[F.when(cond, F.lit(name)) for name, cond in missing.items()])
    quarantined_names = F.concat_ws(",", *[F.when((F.col("_q_bits").bitwiseAND(1 << i)) != 0, F.lit(n))
                                           for i, n in enumerate(names)])
    q_rows = F.coalesce(F.col("_q_rows"), F.lit(0).cast("bigint"))
    return per_day.select(
        *keys,
        kpis.date_key(F.col("date")).alias("date_key"),
        F.col("_has_da").isNotNull().alias("has_daily_activity"),
        F.col("_has_a").isNotNull().alias("has_activity_record"),
        F.col("_has_sleep").isNotNull().alias("has_sleep"),
        complete_hours.cast("int").alias("hourly_complete_hours"),
        (complete_hours / F.lit(float(HOURS_PER_DAY))).alias("hourly_coverage"),
        hr_hours.cast("int").alias("heart_rate_hours"),
        F.when(missing_names != "", missing_names).alias("missing_inputs"),
        F.when(quarantined_names != "", quarantined_names).alias("quarantined_inputs"),
        q_rows.cast("bigint").alias("quarantined_rows"),
        ((missing_names == "") & (q_rows == 0)).alias("is_complete"),
    )
