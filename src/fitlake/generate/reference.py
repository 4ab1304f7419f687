"""A pure-Python reading of a landing folder with the pipeline's validation rules, independent of Spark and of
the generator's own bookkeeping: it computes how many rows silver and quarantine should hold per source, so
``fixtures/expected/`` and the tests cross-check the manifest against the files themselves.

Rules (the silver contract): a record is quarantined when it cannot be parsed, has no user id, a value of the wrong
type, a date after ``today``, steps outside 0-100,000, negative calories, an average heart rate outside 30-220 bpm
(null is allowed: non-wear days), or more than 1,440 minutes in a day. Valid records are deduplicated by natural
key; the record in the later file (path order), then the later line, wins.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

MAX_STEPS = 100_000


def _activity_ok(rec: dict, today: dt.date) -> bool:
    try:
        if not isinstance(rec.get("user_id"), int) or isinstance(rec.get("user_id"), bool):
            return False
        if dt.date.fromisoformat(rec["date"]) > today:
            return False
        steps, dur = rec["steps"], rec["duration_minutes"]
        if not isinstance(steps, int) or not isinstance(dur, int) or not 0 <= steps <= MAX_STEPS:
            return False
        for k in ("calories_burned", "heart_rate_avg", "sleep_hours", "distance_km"):
            if rec.get(k) is not None and not isinstance(rec[k], (int, float)):
                return False
        hr = rec.get("heart_rate_avg")
        return rec["calories_burned"] is not None and rec["calories_burned"] >= 0 and (hr is None or 30 <= hr <= 220)
    except (KeyError, TypeError, ValueError):
        return False


def _fitbit_date(text: str) -> dt.date:
    return dt.datetime.strptime(text.split(" ")[0], "%m/%d/%Y").date()


def _daily_ok(row: dict, today: dt.date) -> bool:
    try:
        int(row["Id"])
        if _fitbit_date(row["ActivityDate"]) > today:
            return False
        ints = [int(row[k]) for k in ("TotalSteps", "VeryActiveMinutes", "FairlyActiveMinutes", "LightlyActiveMinutes",
                                      "SedentaryMinutes", "Calories")]
        for k in ("TotalDistance", "TrackerDistance", "LoggedActivitiesDistance", "VeryActiveDistance",
                  "ModeratelyActiveDistance", "LightActiveDistance", "SedentaryActiveDistance"):
            float(row[k])
        return 0 <= ints[0] <= MAX_STEPS and ints[5] >= 0 and min(ints) >= 0 and sum(ints[1:5]) <= 1440
    except (KeyError, TypeError, ValueError):
        return False


def _csv_rows(paths: list[Path]):
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            for row in reader:
                yield path, row, (dict(zip(header, row)) if len(row) >= len(header) else None)


def expected_counts(landing: str | Path, today: dt.date | None = None) -> dict[str, dict[str, int]]:
    """Per bronze source: raw rows (bronze), rows silver should hold, rows quarantine should hold."""
    root = Path(landing)
    today = today or dt.date.today()
    out: dict[str, dict[str, int]] = {}

    keys, bad, lines = set(), 0, 0
    for path in sorted(root.glob("activity/date=*/*.json")):
        for text in path.read_text(encoding="utf-8").splitlines():
            lines += 1
            try:
                rec = json.loads(text)
            except json.JSONDecodeError:
                bad += 1
                continue
            if _activity_ok(rec, today):
                keys.add((rec["user_id"], rec["date"]))
            else:
                bad += 1
    out["activity"] = {"bronze_rows": lines, "silver_rows": len(keys), "quarantine_rows": bad}

    keys, bad, lines = set(), 0, 0
    for _, row, rec in _csv_rows(sorted(root.glob("fitbit/*/dailyActivity_merged*.csv"))):
        lines += 1
        if rec is not None and _daily_ok(rec, today):
            keys.add((int(rec["Id"]), _fitbit_date(rec["ActivityDate"])))
        else:
            bad += 1
    out["daily_activity"] = {"bronze_rows": lines, "silver_rows": len(keys), "quarantine_rows": bad}

    for stem, source, key_cols in (
        ("dailyCalories", "daily_calories", 2), ("dailySteps", "daily_steps", 2),
        ("dailyIntensities", "daily_intensities", 2), ("hourlySteps", "hourly_steps", 2),
        ("hourlyCalories", "hourly_calories", 2), ("hourlyIntensities", "hourly_intensities", 2),
        ("sleepDay", "sleep_day", 2), ("weightLogInfo", "weight_log", 2), ("heartrate_seconds", "heartrate_seconds", 2),
    ):
        rows = [tuple(row[:key_cols]) for _, row, _ in _csv_rows(sorted(root.glob(f"fitbit/*/{stem}_merged*.csv")))]
        if rows:
            out[source] = {"bronze_rows": len(rows), "silver_rows": len(set(rows)), "quarantine_rows": 0}
    return out
