"""What each silver table is: its typed columns (and the bronze field each comes from, and the kind of validity check
it gets), its natural key, the date column that drives pruning, and its derived features. The rules themselves live
in ``validity.py`` (one per column kind) and ``expectations.py`` (the per-table list)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pyspark.sql import DataFrame

from fitlake.silver import transforms as T


@dataclass(frozen=True)
class Col:
    name: str  # silver column (snake_case)
    source: str  # bronze field, exactly as in the file
    kind: str  # a fitlake.silver.parsing kind
    required: bool = True
    check: str | None = None  # a fitlake.silver.validity.CHECKS kind: the one range / sign rule of this column


@dataclass(frozen=True)
class SilverSpec:
    name: str
    columns: tuple[Col, ...]
    keys: tuple[str, ...]
    date_expr: str  # SQL expression giving the row's DATE (gold's affected keys)
    prune_column: str  # a key column whose batch min/max bounds the MERGE so it reads only the files it can match
    cluster_by: tuple[str, ...] = ()
    features: tuple[Callable[[DataFrame], DataFrame], ...] = field(default=())

    @property
    def value_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.name not in self.keys]


def _fitbit(name: str, date_col: str, date_source: str, date_kind: str, *values: Col, **kw) -> SilverSpec:
    cols = (Col("user_id", "Id", "bigint", check="id"), Col(date_col, date_source, date_kind), *values)
    date_expr = date_col if date_kind.endswith("date") else f"to_date({date_col})"
    return SilverSpec(name, cols, ("user_id", date_col), date_expr, date_col, **kw)


_INTENSITY_MINUTES = (
    Col("very_active_minutes", "VeryActiveMinutes", "int", check="minutes_per_day"),
    Col("fairly_active_minutes", "FairlyActiveMinutes", "int", check="minutes_per_day"),
    Col("lightly_active_minutes", "LightlyActiveMinutes", "int", check="minutes_per_day"),
    Col("sedentary_minutes", "SedentaryMinutes", "int", check="minutes_per_day"),
)
_INTENSITY_DISTANCES = (
    Col("very_active_distance", "VeryActiveDistance", "double", check="distance_km"),
    Col("moderately_active_distance", "ModeratelyActiveDistance", "double", check="distance_km"),
    Col("light_active_distance", "LightActiveDistance", "double", check="distance_km"),
    Col("sedentary_active_distance", "SedentaryActiveDistance", "double", check="distance_km"),
)

SPECS: dict[str, SilverSpec] = {
    s.name: s
    for s in (
        SilverSpec(
            "activity",
            (
                Col("user_id", "user_id", "bigint", check="id"),
                Col("date", "date", "iso_date"),
                Col("activity_type", "activity_type", "string", check="activity_type"),
                Col("steps", "steps", "int", check="steps_per_day"),
                Col("calories_burned", "calories_burned", "double", check="calories_per_day"),
                Col("heart_rate_avg", "heart_rate_avg", "double", required=False, check="heart_rate"),
                Col("sleep_hours", "sleep_hours", "double", required=False, check="hours_per_day"),
                Col("duration_minutes", "duration_minutes", "int", check="minutes_per_day"),
                Col("distance_km", "distance_km", "double", required=False, check="distance_km"),
            ),
            ("user_id", "date"),
            "date",
            "date",
            cluster_by=("date",),
            features=(
                lambda df: T.with_calories_to_steps_ratio(df, "calories_burned", "steps"),
                lambda df: T.with_day_of_week(df, "date"),
                lambda df: T.flag_non_wear_days(df, steps="steps", active_minutes=["duration_minutes"]),
            ),
        ),
        _fitbit(
            "daily_activity",
            "activity_date",
            "ActivityDate",
            "fitbit_date",
            Col("total_steps", "TotalSteps", "int", check="steps_per_day"),
            Col("total_distance", "TotalDistance", "double", check="distance_km"),
            Col("tracker_distance", "TrackerDistance", "double", check="distance_km"),
            Col("logged_activities_distance", "LoggedActivitiesDistance", "double",
                check="distance_km"),
            *_INTENSITY_DISTANCES,
            *_INTENSITY_MINUTES,
            Col("calories", "Calories", "int", check="calories_per_day"),
            cluster_by=("activity_date",),
            features=(
                lambda df: T.with_calories_to_steps_ratio(df, "calories", "total_steps"),
                lambda df: T.with_day_of_week(df, "activity_date"),
                lambda df: T.flag_non_wear_days(
                    df,
                    steps="total_steps",
                    active_minutes=["very_active_minutes", "fairly_active_minutes", "lightly_active_minutes"],
                    sedentary_minutes="sedentary_minutes",
                ),
            ),
        ),
        _fitbit("daily_steps", "activity_date", "ActivityDay", "fitbit_date",
                Col("step_total", "StepTotal", "int", check="steps_per_day")),
        _fitbit("daily_calories", "activity_date", "ActivityDay", "fitbit_date",
                Col("calories", "Calories", "int", check="calories_per_day")),
        _fitbit(
            "daily_intensities", "activity_date", "ActivityDay", "fitbit_date",
            *_INTENSITY_MINUTES, *_INTENSITY_DISTANCES,
        ),
        _fitbit(
            "sleep_day", "sleep_date", "SleepDay", "fitbit_timestamp",
            Col("total_sleep_records", "TotalSleepRecords", "int", check="sleep_records_per_day"),
            Col("total_minutes_asleep", "TotalMinutesAsleep", "int", check="minutes_per_day"),
            Col("total_time_in_bed", "TotalTimeInBed", "int", check="minutes_per_day"),
        ),
        _fitbit("hourly_steps", "activity_hour", "ActivityHour", "fitbit_timestamp",
                Col("step_total", "StepTotal", "int", check="steps_per_hour"), cluster_by=("activity_hour",)),
        _fitbit("hourly_calories", "activity_hour", "ActivityHour", "fitbit_timestamp",
                Col("calories", "Calories", "int", check="calories_per_hour"), cluster_by=("activity_hour",)),
        _fitbit(
            "hourly_intensities", "activity_hour", "ActivityHour", "fitbit_timestamp",
            Col("total_intensity", "TotalIntensity", "int", check="intensity_per_hour"),
            Col("average_intensity", "AverageIntensity", "double", check="average_intensity"),
            cluster_by=("activity_hour",),
        ),
        _fitbit("heartrate_seconds", "time", "Time", "fitbit_timestamp",
                Col("value", "Value", "int", check="heart_rate"),
                cluster_by=("time",)),
        SilverSpec(
            "weight_log",
            (
                Col("user_id", "Id", "bigint", check="id"),
                Col("log_time", "Date", "fitbit_timestamp"),
                Col("weight_kg", "WeightKg", "double", check="weight_kg"),
                Col("weight_pounds", "WeightPounds", "double", check="weight_pounds"),
                Col("fat", "Fat", "double", required=False, check="body_fat_percent"),
                Col("bmi", "BMI", "double", check="bmi"),
                Col("is_manual_report", "IsManualReport", "boolean"),
                Col("log_id", "LogId", "bigint", check="id"),
            ),
            ("user_id", "log_id"),
            "to_date(log_time)",
            "log_id",
        ),
    )
}
