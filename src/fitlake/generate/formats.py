"""Text formats of the two landing sources: Fitbit export CSVs (exact Kaggle headers, CRLF, ``M/d/yyyy`` and
``M/d/yyyy h:mm:ss AM`` times, float32-looking decimals) and activity JSON lines."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np

CRLF = "\r\n"

HEADERS: dict[str, list[str]] = {
    "dailyActivity": ["Id", "ActivityDate", "TotalSteps", "TotalDistance", "TrackerDistance",
                      "LoggedActivitiesDistance", "VeryActiveDistance", "ModeratelyActiveDistance",
                      "LightActiveDistance", "SedentaryActiveDistance", "VeryActiveMinutes", "FairlyActiveMinutes",
                      "LightlyActiveMinutes", "SedentaryMinutes", "Calories"],
    "dailyCalories": ["Id", "ActivityDay", "Calories"],
    "dailyIntensities": ["Id", "ActivityDay", "SedentaryMinutes", "LightlyActiveMinutes", "FairlyActiveMinutes",
                         "VeryActiveMinutes", "SedentaryActiveDistance", "LightActiveDistance",
                         "ModeratelyActiveDistance", "VeryActiveDistance"],
    "dailySteps": ["Id", "ActivityDay", "StepTotal"],
    "hourlyCalories": ["Id", "ActivityHour", "Calories"],
    "hourlyIntensities": ["Id", "ActivityHour", "TotalIntensity", "AverageIntensity"],
    "hourlySteps": ["Id", "ActivityHour", "StepTotal"],
    "sleepDay": ["Id", "SleepDay", "TotalSleepRecords", "TotalMinutesAsleep", "TotalTimeInBed"],
    "weightLogInfo": ["Id", "Date", "WeightKg", "WeightPounds", "Fat", "BMI", "IsManualReport", "LogId"],
    "heartrate_seconds": ["Id", "Time", "Value"],
}
# Fitbit file stem -> bronze source name (config.TABLES["bronze"]).
SOURCE_OF_FILE: dict[str, str] = {
    "dailyActivity": "daily_activity",
    "dailyCalories": "daily_calories",
    "dailyIntensities": "daily_intensities",
    "dailySteps": "daily_steps",
    "hourlyCalories": "hourly_calories",
    "hourlyIntensities": "hourly_intensities",
    "hourlySteps": "hourly_steps",
    "sleepDay": "sleep_day",
    "weightLogInfo": "weight_log",
    "heartrate_seconds": "heartrate_seconds",
}
ACTIVITY_FIELDS = ("user_id", "date", "activity_type", "steps", "calories_burned", "heart_rate_avg", "sleep_hours",
                   "duration_minutes", "distance_km")
POUNDS_PER_KG = 2.20462262185
# AverageIntensity as the real export prints it: TotalIntensity / 60 with at most 6 decimals, no trailing zeros.
AVERAGE_INTENSITY = [("%.6f" % (t / 60)).rstrip("0").rstrip(".") for t in range(181)]


def fitbit_date(d: dt.date) -> str:
    return f"{d.month}/{d.day}/{d.year}"


def fitbit_time(d: dt.date, second_of_day: int) -> str:
    h, rem = divmod(int(second_of_day), 3600)
    m, s = divmod(rem, 60)
    return f"{d.month}/{d.day}/{d.year} {h % 12 or 12}:{m:02d}:{s:02d} {'AM' if h < 12 else 'PM'}"


def hour_strings(d: dt.date) -> list[str]:
    return [fitbit_time(d, h * 3600) for h in range(24)]


def float32_text(values: np.ndarray) -> list[str]:
    """Decimals the way the real export prints them (float32 widened to double, 15 significant digits)."""
    return ["%.15g" % v for v in np.asarray(values, dtype=np.float32).astype(np.float64).tolist()]


def csv_text(header: list[str], rows: list[str]) -> str:
    return CRLF.join([",".join(header), *rows]) + CRLF


def json_line(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"))
