"""A tiny deterministic lakehouse with real structure for the ML tests: three behaviour groups of users whose
activity mix, steps, sleep and calories differ, so each model has something to learn and a baseline to beat."""

from __future__ import annotations

import datetime as dt
import random

ACTIVITY_SCHEMA = (
    "user_id BIGINT, date DATE, activity_type STRING, steps INT, calories_burned DOUBLE, heart_rate_avg DOUBLE, "
    "sleep_hours DOUBLE, duration_minutes INT, distance_km DOUBLE, calories_to_steps_ratio DOUBLE, day_of_week INT, "
    "is_weekend BOOLEAN, is_non_wear BOOLEAN, _source_file STRING, _ingested_at TIMESTAMP, _updated_at TIMESTAMP"
)
DAILY_SCHEMA = (
    "user_id BIGINT, activity_date DATE, total_steps INT, total_distance DOUBLE, tracker_distance DOUBLE, "
    "logged_activities_distance DOUBLE, very_active_distance DOUBLE, moderately_active_distance DOUBLE, "
    "light_active_distance DOUBLE, sedentary_active_distance DOUBLE, very_active_minutes INT, "
    "fairly_active_minutes INT, lightly_active_minutes INT, sedentary_minutes INT, calories INT, "
    "calories_to_steps_ratio DOUBLE, day_of_week INT, is_weekend BOOLEAN, is_non_wear BOOLEAN, "
    "_source_file STRING, _ingested_at TIMESTAMP, _updated_at TIMESTAMP"
)
SLEEP_SCHEMA = "user_id BIGINT, date DATE, date_key INT, minutes_asleep INT, time_in_bed INT, sleep_records INT, " \
               "sleep_efficiency DOUBLE"

# type -> (km/h, steps per minute, MET-like kcal per minute, heart rate)
KINDS = {
    "walking": (5.0, 100, 4.0, 100), "running": (10.0, 160, 11.0, 150), "cycling": (20.0, 0, 8.0, 130),
    "swimming": (2.5, 0, 9.0, 135), "yoga": (0.0, 5, 3.0, 90), "gym_workout": (0.0, 30, 6.0, 125),
    "hiking": (4.0, 110, 6.5, 115),
}
# group -> (favourite types with weights, daily base steps, sleep hours, active minutes)
GROUPS = {
    "athlete": ({"running": 6, "cycling": 3, "swimming": 2, "gym_workout": 1}, 11000, 6.2, 70),
    "mindful": ({"yoga": 7, "walking": 2, "swimming": 1}, 4500, 8.3, 15),
    "walker": ({"walking": 6, "hiking": 3, "gym_workout": 1}, 8000, 7.2, 35),
}
START = dt.date(2023, 4, 1)
INGESTED = dt.datetime(2023, 6, 1, 12, 0, 0)


def make_users(n_users: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    names = list(GROUPS)
    return [{"user_id": 1_000_000_000 + 7919 * i, "group": names[i % len(names)], "weight": rng.uniform(0.8, 1.3),
             "bmr": rng.uniform(1400, 2100)} for i in range(n_users)]


def activity_rows(users: list[dict], days: int, seed: int = 11) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for u in users:
        prefs, base_steps, sleep, _ = GROUPS[u["group"]]
        kinds, weights = list(prefs), list(prefs.values())
        for d in range(days):
            day = START + dt.timedelta(days=d)
            kind = rng.choices(kinds, weights)[0] if rng.random() > 0.1 else rng.choice(list(KINDS))
            kmh, cadence, kcal_min, hr = KINDS[kind]
            duration = max(10, int(rng.gauss(50, 15)))
            distance = round(kmh * duration / 60 * rng.uniform(0.85, 1.15), 2)
            steps = max(0, int(base_steps * rng.uniform(0.4, 0.8) + cadence * duration * rng.uniform(0.9, 1.1)))
            calories = round(u["weight"] * (u["bmr"] + kcal_min * duration) + 0.03 * steps + rng.gauss(0, 60), 1)
            dow = day.isoweekday()
            heart = None if rng.random() < 0.05 else round(hr + rng.gauss(0, 8), 1)
            rows.append((u["user_id"], day, kind, steps, calories, heart, round(sleep + rng.gauss(0, 0.6), 2),
                         duration, distance, round(calories / steps, 4) if steps else None, dow, dow >= 6, False,
                         f"activity/date={day}/part-00000.json", INGESTED, INGESTED))
    return rows


def daily_rows(users: list[dict], days: int, seed: int = 13) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for u in users:
        _, base_steps, _, active = GROUPS[u["group"]]
        for d in range(days):
            day = START + dt.timedelta(days=d)
            dow = day.isoweekday()
            if rng.random() < 0.06:  # a non-wear day: Fitbit fills in the BMR
                rows.append((u["user_id"], day, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 1440,
                             int(u["bmr"]), None, dow, dow >= 6, True, "fitbit/x.csv", INGESTED, INGESTED))
                continue
            steps = max(0, int(rng.gauss(base_steps, base_steps * 0.25)))
            very = max(0, int(rng.gauss(active * 0.6, 8)))
            fairly = max(0, int(rng.gauss(active * 0.4, 6)))
            light = max(0, int(rng.gauss(200, 40)))
            worn = 1440 if rng.random() > 0.1 else rng.randint(600, 1300)
            sedentary = max(0, worn - very - fairly - light)
            dist = round(steps * 0.0007, 2)
            calories = int(u["bmr"] * worn / 1440 + 0.045 * steps * u["weight"] + 6 * very + 3 * fairly
                           + rng.gauss(0, 70))
            rows.append((u["user_id"], day, steps, dist, dist, 0.0, round(dist * 0.3, 2), round(dist * 0.1, 2),
                         round(dist * 0.6, 2), 0.0, very, fairly, light, sedentary, calories,
                         round(calories / steps, 4) if steps else None, dow, dow >= 6, False, "fitbit/x.csv",
                         INGESTED, INGESTED))
    return rows


def sleep_rows(users: list[dict], days: int, seed: int = 17) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for u in users:
        hours = GROUPS[u["group"]][2]
        for d in range(0, days, 2):
            day = START + dt.timedelta(days=d)
            asleep = int(rng.gauss(hours * 60, 30))
            bed = asleep + int(abs(rng.gauss(35, 10)))
            rows.append((u["user_id"], day, int(day.strftime("%Y%m%d")), asleep, bed, 1, round(asleep / bed, 4)))
    return rows


def write_lakehouse(spark, settings, n_users: int = 36, days: int = 28) -> None:
    """Write silver.activity, silver.daily_activity and gold.fact_sleep for ``settings``."""
    from fitlake import delta_io

    import json
    from pathlib import Path

    users = make_users(n_users)
    # the latent groups, where the generator's manifest keeps its personas
    Path(settings.landing_dir).mkdir(parents=True, exist_ok=True)
    (Path(settings.landing_dir) / "_manifest.json").write_text(json.dumps(
        {"personas": {"names": list(GROUPS), "by_user": {str(u["user_id"]): u["group"] for u in users}}}))
    for (layer, name), rows, schema in (
        (("silver", "activity"), activity_rows(users, days), ACTIVITY_SCHEMA),
        (("silver", "daily_activity"), daily_rows(users, days), DAILY_SCHEMA),
        (("gold", "fact_sleep"), sleep_rows(users, days), SLEEP_SCHEMA),
    ):
        delta_io.write(spark.createDataFrame(rows, schema).coalesce(1), settings.table(layer, name), mode="overwrite")
