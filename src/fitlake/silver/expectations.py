"""Every silver quality rule, in one place: per table an ordered list of ``(rule_name, sql_condition)``.

A row passes a rule when the condition is TRUE (null fails); a failing row goes to ``quarantine.<table>`` with the
name of the FIRST rule it fails, so order matters: record-level problems first, then missing values, then formats,
then ranges. The generic rules (not corrupt, required present, parses exactly) are derived from the column specs in
``specs.py``; the table-specific ones are written out below. Non-wear days are flagged in silver, not rules here.
"""

from __future__ import annotations

from fitlake.silver.specs import SPECS, SilverSpec

Rule = tuple[str, str]

ACTIVITY_TYPES = ("walking", "running", "cycling", "swimming", "yoga", "gym_workout", "hiking")
MAX_STEPS = 100_000
MAX_DAILY_CALORIES = 20_000
MINUTES_PER_DAY = 1440
EARLIEST_DATE = "2000-01-01"


def _in_range(col: str, low, high, nullable: bool = False) -> Rule:
    cond = f"{col} BETWEEN {low} AND {high}"
    return f"{col}_in_range", f"{col} IS NULL OR {cond}" if nullable else cond


def _date_rules(col: str, date_expr: str) -> list[Rule]:
    return [
        (f"{col}_not_in_future", f"{date_expr} <= current_date()"),
        (f"{col}_not_before_{EARLIEST_DATE[:4]}", f"{date_expr} >= DATE'{EARLIEST_DATE}'"),
    ]


def generic_rules(spec: SilverSpec) -> list[Rule]:
    """Rules every table gets from its column specs: a parseable record, required fields, exact formats."""
    rules: list[Rule] = [("not_corrupt_record", "_raw._corrupt_record IS NULL")]
    for c in spec.columns:
        if c.required:
            rules.append((f"{c.name}_not_null", f"nullif(trim(_raw.`{c.source}`), '') IS NOT NULL"))
    for c in spec.columns:
        rules.append((f"{c.name}_parses_exactly", f"nullif(trim(_raw.`{c.source}`), '') IS NULL OR {c.name} IS NOT NULL"))
    return rules


_MINUTES = ("very_active_minutes", "fairly_active_minutes", "lightly_active_minutes", "sedentary_minutes")
_DISTANCES = ("very_active_distance", "moderately_active_distance", "light_active_distance", "sedentary_active_distance")
_minutes_rules = [_in_range(m, 0, MINUTES_PER_DAY) for m in _MINUTES] + [
    ("minutes_sum_within_day", " + ".join(_MINUTES) + f" <= {MINUTES_PER_DAY}")
]
_distance_rules = [_in_range(d, 0, 500) for d in _DISTANCES]

SPECIFIC_RULES: dict[str, list[Rule]] = {
    "activity": [
        ("activity_type_known", "activity_type IN (" + ", ".join(f"'{t}'" for t in ACTIVITY_TYPES) + ")"),
        ("user_id_positive", "user_id > 0"),
        _in_range("steps", 0, MAX_STEPS),
        _in_range("calories_burned", 0, MAX_DAILY_CALORIES),
        ("heart_rate_in_range", "heart_rate_avg IS NULL OR (heart_rate_avg > 0 AND heart_rate_avg < 250)"),
        _in_range("sleep_hours", 0, 24, nullable=True),
        _in_range("duration_minutes", 0, MINUTES_PER_DAY),
        _in_range("distance_km", 0, 500, nullable=True),
        *_date_rules("date", "date"),
    ],
    "daily_activity": [
        ("user_id_positive", "user_id > 0"),
        _in_range("total_steps", 0, MAX_STEPS),
        _in_range("total_distance", 0, 500),
        _in_range("tracker_distance", 0, 500),
        _in_range("logged_activities_distance", 0, 500),
        *_distance_rules,
        *_minutes_rules,
        _in_range("calories", 0, MAX_DAILY_CALORIES),
        *_date_rules("activity_date", "activity_date"),
    ],
    "daily_steps": [_in_range("step_total", 0, MAX_STEPS), *_date_rules("activity_date", "activity_date")],
    "daily_calories": [_in_range("calories", 0, MAX_DAILY_CALORIES), *_date_rules("activity_date", "activity_date")],
    "daily_intensities": [*_minutes_rules, *_distance_rules, *_date_rules("activity_date", "activity_date")],
    "sleep_day": [
        _in_range("total_sleep_records", 1, 24),
        _in_range("total_minutes_asleep", 0, MINUTES_PER_DAY),
        _in_range("total_time_in_bed", 0, MINUTES_PER_DAY),
        ("asleep_not_more_than_in_bed", "total_minutes_asleep <= total_time_in_bed"),
        *_date_rules("sleep_date", "sleep_date"),
    ],
    "hourly_steps": [_in_range("step_total", 0, 20_000), *_date_rules("activity_hour", "to_date(activity_hour)")],
    "hourly_calories": [_in_range("calories", 0, 2_000), *_date_rules("activity_hour", "to_date(activity_hour)")],
    "hourly_intensities": [
        _in_range("total_intensity", 0, 180),
        _in_range("average_intensity", 0, 3),
        *_date_rules("activity_hour", "to_date(activity_hour)"),
    ],
    "heartrate_seconds": [
        ("heart_rate_in_range", "value > 0 AND value < 250"),
        *_date_rules("time", "to_date(time)"),
    ],
    "weight_log": [
        _in_range("weight_kg", 20, 400),
        _in_range("weight_pounds", 44, 882),
        _in_range("fat", 1, 75, nullable=True),
        _in_range("bmi", 8, 100),
        *_date_rules("log_time", "to_date(log_time)"),
    ],
}


def rules_for(table: str) -> list[Rule]:
    """The ordered rules of one silver table."""
    return generic_rules(SPECS[table]) + SPECIFIC_RULES.get(table, [])


RULES: dict[str, list[Rule]] = {name: rules_for(name) for name in SPECS}
