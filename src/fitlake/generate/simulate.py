"""One simulated day for every user, vectorised over users x 24 hours.

Everything is built bottom-up from per-hour minutes in Fitbit's four intensity classes (asleep/sedentary, light,
fairly, very active), so the daily totals *are* the sums of the hourly values: steps, calories and
``TotalIntensity = light + 2 * fairly + 3 * very`` minutes (Fitbit's per-minute intensity levels 0-3).
Each day draws from its own stream ``default_rng([seed, 1, day_index])``, so days can be generated in any order or
in parallel and the output stays byte-identical.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from fitlake.generate.personas import (
    CADENCE,
    CALORIE_FACTOR,
    INTENSITY_SPLIT,
    LOGGED_SPEED,
    STRIDE_FACTOR,
    Users,
)

_HOUR_START = np.arange(24) * 60
# Relative chance of moving during an awake hour (people move more around midday and the commute).
DIURNAL = np.array(
    [0.2, 0.2, 0.2, 0.2, 0.3, 0.5, 0.8, 1.1, 1.3, 1.0, 1.0, 1.1, 1.4, 1.3, 1.0, 1.0, 1.1, 1.4, 1.3, 1.1, 0.9, 0.7, 0.5,
     0.3]
)
HR_SAMPLE_EVERY_MIN = 15


@dataclass
class Day:
    date: dt.date
    day_index: int
    activity_type: np.ndarray  # (n,) index into ACTIVITY_TYPES
    duration_minutes: np.ndarray
    non_wear: np.ndarray  # (n,) bool
    steps_h: np.ndarray  # (n, 24) int
    calories_h: np.ndarray  # (n, 24) int
    intensity_h: np.ndarray  # (n, 24) int, Fitbit TotalIntensity
    very: np.ndarray  # daily minutes
    fairly: np.ndarray
    light: np.ndarray
    sedentary: np.ndarray
    very_dist: np.ndarray  # km, rounded to 2 decimals
    moderate_dist: np.ndarray
    light_dist: np.ndarray
    sedentary_dist: np.ndarray
    tracker_dist: np.ndarray
    logged_dist: np.ndarray
    total_dist: np.ndarray
    heart_rate_avg: np.ndarray  # NaN on non-wear days
    minutes_asleep: np.ndarray
    time_in_bed: np.ndarray
    sleep_records: np.ndarray
    sleep_logged: np.ndarray  # bool: a sleepDay row exists
    hr_user: np.ndarray  # heart-rate samples: user index, minute of day, second, bpm
    hr_minute: np.ndarray
    hr_second: np.ndarray
    hr_value: np.ndarray
    weight_user: np.ndarray  # weight logs: user index, second of day, kg, fat (NaN = empty)
    weight_second: np.ndarray
    weight_kg: np.ndarray
    weight_fat: np.ndarray

    @property
    def steps(self) -> np.ndarray:
        return self.steps_h.sum(axis=1)

    @property
    def calories(self) -> np.ndarray:
        return self.calories_h.sum(axis=1)

    @property
    def sleep_hours(self) -> np.ndarray:
        return np.round(self.minutes_asleep / 60.0, 2)


def _overlap(start_min: np.ndarray, end_min: np.ndarray) -> np.ndarray:
    """Minutes of [start, end) falling into each hour of the day, shape (n, 24)."""
    lo = _HOUR_START[None, :]
    return np.clip(np.minimum(end_min[:, None], lo + 60) - np.maximum(start_min[:, None], lo), 0, 60).astype(np.int64)


def simulate_day(users: Users, day_index: int, date: dt.date, seed: int, non_wear_rate: float,
                 force_non_wear: int | None = None) -> Day:
    rng = np.random.default_rng([seed, 1, day_index])
    n = len(users)
    weekend = date.weekday() >= 5
    non_wear = rng.random(n) < np.clip(non_wear_rate * users.non_wear_weight, 0.0, 0.9)
    if force_non_wear is not None:
        non_wear[force_non_wear] = True

    # Sleep: the night starting this evening, and the morning of this day spent asleep.
    short_night = rng.random(n) < 0.1  # deadlines, travel, a newborn: some nights are much shorter
    in_bed = np.clip(users.in_bed_hours + rng.normal(0, 0.7, n) + 0.4 * weekend - 2.5 * short_night, 2.0, 11.0)
    wake = np.clip(users.wake_hour + users.weekend_sleep_shift * weekend + rng.normal(0, 0.3, n), 4.0, 11.0)
    bed = np.clip(24.0 + wake - in_bed, 19.5, 23.9)
    asleep_h = _overlap(np.zeros(n), wake * 60) + _overlap(bed * 60, np.full(n, 1440.0))
    time_in_bed = np.round(in_bed * 60).astype(np.int64)
    efficiency = np.clip(users.sleep_efficiency + rng.normal(0, 0.02, n), 0.7, 0.99)
    minutes_asleep = np.round(time_in_bed * efficiency).astype(np.int64)
    sleep_records = 1 + (rng.random(n) < 0.08)
    sleep_logged = users.tracks_sleep & (rng.random(n) < users.sleep_log_p) & ~non_wear

    # One session of the user's preferred activity types, inside the awake window.
    act = np.minimum((rng.random(n)[:, None] > users.preferences).sum(axis=1), len(CADENCE) - 1)
    awake_min = (bed - wake) * 60
    dur = users.session_minutes * rng.lognormal(0.0, 0.35, n) * (users.weekend_factor if weekend else 1.0)
    dur = np.round(np.clip(dur, 5, np.minimum(240, awake_min - 30))).astype(np.int64)
    start = (users.session_hour + rng.normal(0, 0.75, n)) * 60
    start = np.round(np.clip(start, wake * 60 + 10, bed * 60 - dur - 10))
    sess_h = _overlap(start, start + dur)
    very_s = np.round(sess_h * INTENSITY_SPLIT[act, 0][:, None]).astype(np.int64)
    fairly_s = np.minimum(np.round(sess_h * INTENSITY_SPLIT[act, 1][:, None]).astype(np.int64), sess_h - very_s)
    light_s = sess_h - very_s - fairly_s

    # Background movement in the remaining awake minutes.
    free = 60 - asleep_h - sess_h
    busy = users.light_p * rng.lognormal(0.0, 0.35, n) * (users.weekend_light if weekend else 1.0)
    p_light = np.clip(busy[:, None] * DIURNAL[None, :], 0, 0.9)
    light_bg = rng.binomial(free, p_light)
    fairly_bg = rng.binomial(free - light_bg, np.clip(users.fairly_p[:, None] * DIURNAL[None, :], 0, 0.5))
    sed_awake = free - light_bg - fairly_bg

    steps_sess = rng.poisson(sess_h * (CADENCE[act] * users.cadence_factor)[:, None])
    steps_light = rng.poisson(light_bg * 24.0 * users.cadence_factor[:, None])
    steps_fairly = rng.poisson(fairly_bg * 90.0 * users.cadence_factor[:, None])

    wfac = (users.weight_kg / 70.0)[:, None]
    cal = (users.bmr * users.neat)[:, None] / 24.0 * rng.normal(1.0, 0.03, (n, 24)) + wfac * (
        light_bg * 1.6 + fairly_bg * 4.0
        + CALORIE_FACTOR[act][:, None] * (light_s * 2.0 + fairly_s * 5.0 + very_s * 9.0)
    )
    calories_h = np.round(cal).astype(np.int64)

    very_h, fairly_h, light_h = very_s, fairly_s + fairly_bg, light_s + light_bg
    steps_h = steps_sess + steps_light + steps_fairly
    intensity_h = light_h + 2 * fairly_h + 3 * very_h

    stride = users.stride_m / 1000.0
    sess_km = steps_sess.sum(axis=1) * stride * STRIDE_FACTOR[act]
    dur_safe = np.maximum(dur, 1)
    very_dist = np.round(sess_km * very_s.sum(axis=1) / dur_safe, 2)
    moderate_dist = np.round(sess_km * fairly_s.sum(axis=1) / dur_safe + steps_fairly.sum(axis=1) * stride, 2)
    light_dist = np.round(sess_km * light_s.sum(axis=1) / dur_safe + steps_light.sum(axis=1) * stride, 2)
    sedentary_dist = np.where(rng.random(n) < 0.05, rng.integers(1, 4, n) / 100.0, 0.0)
    tracker_dist = np.round(very_dist + moderate_dist + light_dist + sedentary_dist, 2)
    logged_dist = np.where(users.logs_activities, np.round(LOGGED_SPEED[act] * dur / 60.0, 2), 0.0)
    total_dist = np.round(tracker_dist + logged_dist, 2)

    very, fairly, light = very_h.sum(axis=1), fairly_h.sum(axis=1), light_h.sum(axis=1)
    asleep_total = asleep_h.sum(axis=1)
    sedentary = sed_awake.sum(axis=1) + np.where(sleep_logged, 0, asleep_total)
    rest = users.resting_hr
    hr_avg = (
        asleep_total * rest * 0.92 + sed_awake.sum(axis=1) * (rest + 10) + light * (rest + 25) + fairly * (rest + 50)
        + very * (rest + 75)
    ) / 1440.0 + rng.normal(0, 1.5, n)
    heart_rate_avg = np.round(hr_avg, 1)

    # Sparse heart-rate samples: HR users, every HR_SAMPLE_EVERY_MIN minutes while awake.
    minutes = np.arange(0, 1440, HR_SAMPLE_EVERY_MIN)
    awake = (minutes[None, :] >= wake[:, None] * 60) & (minutes[None, :] < bed[:, None] * 60)
    take = awake & (users.tracks_hr & ~non_wear)[:, None]
    hr_user, hr_idx = np.nonzero(take)
    hr_minute = minutes[hr_idx]
    hour = hr_minute // 60
    bpm = rest[hr_user] + 8 + intensity_h[hr_user, hour] / 60.0 * 30 + rng.normal(0, 4, len(hr_user))
    hr_value = np.clip(np.round(bpm), 40, 200).astype(np.int64)
    hr_second = rng.integers(0, 10, len(hr_user))

    # Weight logs: some users, some days; manual entries at 11:59:59 PM like the real export.
    logs = users.logs_weight & (rng.random(n) < users.weight_log_p)
    weight_user = np.nonzero(logs)[0]
    auto_second = (np.round(wake[weight_user] * 3600) + rng.integers(0, 1800, len(weight_user))).astype(np.int64)
    weight_second = np.where(users.weight_manual[weight_user], 86399, auto_second)
    weight_kg = users.weight_kg[weight_user] + users.weight_drift[weight_user] * day_index + rng.normal(
        0, 0.25, len(weight_user))
    weight_fat = np.where(rng.random(len(weight_user)) < 0.1, rng.integers(15, 32, len(weight_user)), np.nan)

    # Non-wear days look like the real ones: no steps, SedentaryMinutes = 1440, BMR-level calories.
    if non_wear.any():
        nw = non_wear
        bmr_h = np.round(users.bmr[nw] / 24.0).astype(np.int64)
        steps_h[nw] = 0
        intensity_h[nw] = 0
        calories_h[nw] = bmr_h[:, None]
        for arr in (very, fairly, light, very_dist, moderate_dist, light_dist, sedentary_dist, tracker_dist,
                    logged_dist, total_dist, dur):
            arr[nw] = 0
        sedentary[nw] = 1440
        heart_rate_avg[nw] = np.nan
    duration_minutes = np.where(non_wear, 0, sess_h.sum(axis=1))

    return Day(
        date=date, day_index=day_index, activity_type=act, duration_minutes=duration_minutes, non_wear=non_wear,
        steps_h=steps_h, calories_h=calories_h, intensity_h=intensity_h, very=very, fairly=fairly, light=light,
        sedentary=sedentary, very_dist=very_dist, moderate_dist=moderate_dist, light_dist=light_dist,
        sedentary_dist=sedentary_dist, tracker_dist=tracker_dist, logged_dist=logged_dist, total_dist=total_dist,
        heart_rate_avg=heart_rate_avg, minutes_asleep=minutes_asleep, time_in_bed=time_in_bed,
        sleep_records=sleep_records, sleep_logged=sleep_logged, hr_user=hr_user, hr_minute=hr_minute,
        hr_second=hr_second, hr_value=hr_value, weight_user=weight_user, weight_second=weight_second,
        weight_kg=weight_kg, weight_fat=weight_fat,
    )
