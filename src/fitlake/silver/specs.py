"""What each silver table is: its typed columns (and the bronze field each comes from, and the kind of validity check
it gets), its natural key, the date column that drives pruning, and its derived features. The rules themselves live
in ``validity.py`` (one per column kind) and ``expectations.py`` (the per-table list)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pyspark.sql import DataFrame

from fitlake.bronze.sources import raw_column
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


@dataclass(frozen=True)
class V:
    """A value column of a Fitbit table: its raw field comes from ``fitlake.bronze.sources`` (``raw_column``)."""

    name: str
    kind: str
    check: str | None = None
    required: bool = True


def _fitbit(name: str, date_col: str, date_kind: str, *values: V, raw_date: str | None = None, **kw) -> SilverSpec:
    """A Fitbit table keyed by (user_id, its date column); every raw name comes from the bronze source ``name``."""
    def col(c: V) -> Col:
        return Col(c.name, raw_column(name, c.name), c.kind, c.required, c.check)

    cols = (col(V("user_id", "bigint", "id")), Col(date_col, raw_column(name, raw_date or date_col), date_kind),
            *map(col, values))
    date_expr = date_col if date_kind.endswith("date") else f"to_date({date_col})"
    return SilverSpec(name, cols, ("user_id", date_col), date_expr, date_col, **kw)


_INTENSITY_MINUTES = tuple(V(f"{k}_minutes", "int", "minutes_per_day") for k in ("very_active", "fairly_active",
                                                                               "lightly_active", "sedentary"))
_INTENSITY_DISTANCES = tuple(V(f"{k}_distance", "double", "distance_km") for k in ("very_active", "moderately_active",
                                                                                 "light_active", "sedentary_active"))

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
            "fitbit_date",
            V("total_steps", "int", "steps_per_day"),
            V("total_distance", "double", "distance_km"),
            V("tracker_distance", "double", "distance_km"),
            V("logged_activities_distance", "double", "distance_km"),
            *_INTENSITY_DISTANCES,
            *_INTENSITY_MINUTES,
            V("calories", "int", "calories_per_day"),
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
        _fitbit("daily_steps", "activity_date", "fitbit_date", V("step_total", "int", "steps_per_day")),
        _fitbit("daily_calories", "activity_date", "fitbit_date", V("calories", "int", "calories_per_day")),
        _fitbit("daily_intensities", "activity_date", "fitbit_date", *_INTENSITY_MINUTES, *_INTENSITY_DISTANCES),
        _fitbit(
            "sleep_day", "sleep_date", "fitbit_timestamp",
            V("total_sleep_records", "int", "sleep_records_per_day"),
            V("total_minutes_asleep", "int", "minutes_per_day"),
            V("total_time_in_bed", "int", "minutes_per_day"),
        ),
        _fitbit("hourly_steps", "activity_hour", "fitbit_timestamp", V("step_total", "int", "steps_per_hour"),
                cluster_by=("activity_hour",)),
        _fitbit("hourly_calories", "activity_hour", "fitbit_timestamp", V("calories", "int", "calories_per_hour"),
                cluster_by=("activity_hour",)),
        _fitbit(
            "hourly_intensities", "activity_hour", "fitbit_timestamp",
            V("total_intensity", "int", "intensity_per_hour"),
            V("average_intensity", "double", "average_intensity"),
            cluster_by=("activity_hour",),
        ),
        _fitbit("heartrate_seconds", "time", "fitbit_timestamp", V("value", "int", "heart_rate"),
                cluster_by=("time",)),
        SilverSpec(
            "weight_log",
            tuple(
                Col(v.name, raw_column("weight_log", raw or v.name), v.kind, v.required, v.check)
                for v, raw in (
                    (V("user_id", "bigint", "id"), None),
                    (V("log_time", "fitbit_timestamp"), "date"),
                    (V("weight_kg", "double", "weight_kg"), None),
                    (V("weight_pounds", "double", "weight_pounds"), None),
                    (V("fat", "double", "body_fat_percent", required=False), None),
                    (V("bmi", "double", "bmi"), None),
                    (V("is_manual_report", "boolean"), None),
                    (V("log_id", "bigint", "id"), None),
                )
            ),
            ("user_id", "log_id"),
            "to_date(log_time)",
            "log_id",
        ),
    )
}
