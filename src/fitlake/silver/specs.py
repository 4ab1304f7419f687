"""What each silver table is: its typed columns (and the bronze field each comes from), its natural key, the date
column that drives pruning, and its derived features. The quality rules live in ``expectations.py``."""

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
    cols = (Col("user_id", "Id", "bigint"), Col(date_col, date_source, date_kind), *values)
    date_expr = date_col if date_kind.endswith("date") else f"to_date({date_col})"
    return SilverSpec(name, cols, ("user_id", date_col), date_expr, date_col, **kw)


_INTENSITY_MINUTES = (
    Col("very_active_minutes", "VeryActiveMinutes", "int"),
    Col("fairly_active_minutes", "FairlyActiveMinutes", "int"),
    Col("lightly_active_minutes", "LightlyActiveMinutes", "int"),
    Col("sedentary_minutes", "SedentaryMinutes", "int"),
)
_INTENSITY_DISTANCES = (
    Col("very_active_distance", "VeryActiveDistance", "double"),
    Col("moderately_active_distance", "ModeratelyActiveDistance", "double"),
    Col("light_active_distance", "LightActiveDistance", "double"),
    Col("sedentary_active_distance", "SedentaryActiveDistance", "double"),
)

SPECS: dict[str, SilverSpec] = {
    s.name: s
    for s in (
        SilverSpec(
            "activity",
            (
                Col("user_id", "user_id", "bigint"),
                Col("date", "date", "iso_date"),
                Col("activity_type", "activity_type", "string"),
                Col("steps", "steps", "int"),
                Col("calories_burned", "calories_burned", "double"),
                Col("heart_rate_avg", "heart_rate_avg", "double", required=False),
                Col("sleep_hours", "sleep_hours", "double", required=False),
                Col("duration_minutes", "duration_minutes", "int"),
                Col("distance_km", "distance_km", "double", required=False),
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
            Col("total_steps", "TotalSteps", "int"),
            Col("total_distance", "TotalDistance", "double"),
            Col("tracker_distance", "TrackerDistance", "double"),
            Col("logged_activities_distance", "LoggedActivitiesDistance", "double"),
            *_INTENSITY_DISTANCES,
            *_INTENSITY_MINUTES,
            Col("calories", "Calories", "int"),
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
        _fitbit("daily_steps", "activity_date", "ActivityDay", "fitbit_date", Col("step_total", "StepTotal", "int")),
        _fitbit("daily_calories", "activity_date", "ActivityDay", "fitbit_date", Col("calories", "Calories", "int")),
        _fitbit(
            "daily_intensities", "activity_date", "ActivityDay", "fitbit_date",
            *_INTENSITY_MINUTES, *_INTENSITY_DISTANCES,
        ),
        _fitbit(
            "sleep_day", "sleep_date", "SleepDay", "fitbit_timestamp",
            Col("total_sleep_records", "TotalSleepRecords", "int"),
            Col("total_minutes_asleep", "TotalMinutesAsleep", "int"),
            Col("total_time_in_bed", "TotalTimeInBed", "int"),
        ),
        _fitbit("hourly_steps", "activity_hour", "ActivityHour", "fitbit_timestamp",
                Col("step_total", "StepTotal", "int"), cluster_by=("activity_hour",)),
        _fitbit("hourly_calories", "activity_hour", "ActivityHour", "fitbit_timestamp",
                Col("calories", "Calories", "int"), cluster_by=("activity_hour",)),
        _fitbit(
            "hourly_intensities", "activity_hour", "ActivityHour", "fitbit_timestamp",
            Col("total_intensity", "TotalIntensity", "int"),
            Col("average_intensity", "AverageIntensity", "double"),
            cluster_by=("activity_hour",),
        ),
        _fitbit("heartrate_seconds", "time", "Time", "fitbit_timestamp", Col("value", "Value", "int"),
                cluster_by=("time",)),
        SilverSpec(
            "weight_log",
            (
                Col("user_id", "Id", "bigint"),
                Col("log_time", "Date", "fitbit_timestamp"),
                Col("weight_kg", "WeightKg", "double"),
                Col("weight_pounds", "WeightPounds", "double"),
                Col("fat", "Fat", "double", required=False),
                Col("bmi", "BMI", "double"),
                Col("is_manual_report", "IsManualReport", "boolean"),
                Col("log_id", "LogId", "bigint"),
            ),
            ("user_id", "log_id"),
            "to_date(log_time)",
            "log_id",
        ),
    )
}
