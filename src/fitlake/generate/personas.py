"""Latent user traits: every synthetic user is drawn around one of a few archetypes, so users form genuine segments
that the persona model can recover. The archetype is recorded in the manifest only, never in the landing data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVITY_TYPES: tuple[str, ...] = ("walking", "running", "cycling", "swimming", "yoga", "gym_workout", "hiking")

# Share of a session's minutes that Fitbit would count as very / fairly active (the rest is light), per type.
INTENSITY_SPLIT = np.array(
    [[0.05, 0.35], [0.80, 0.15], [0.55, 0.30], [0.50, 0.35], [0.00, 0.15], [0.30, 0.40], [0.20, 0.45]]
)
# Steps per session minute (a bike or a pool barely moves the step counter).
CADENCE = np.array([105.0, 160.0, 8.0, 4.0, 6.0, 30.0, 95.0])
# Stride multiplier relative to the walking stride.
STRIDE_FACTOR = np.array([1.0, 1.35, 1.0, 1.0, 1.0, 1.0, 0.95])
# Calorie multiplier of a session minute relative to generic effort at the same Fitbit intensity.
CALORIE_FACTOR = np.array([0.9, 1.15, 1.1, 1.2, 0.6, 1.0, 1.1])
# Speed (km/h) for manually logged, non-step activities (cycling, swimming); 0 means never logged.
LOGGED_SPEED = np.array([0.0, 0.0, 22.0, 2.5, 0.0, 0.0, 0.0])


@dataclass(frozen=True)
class Persona:
    name: str
    share: float  # share of the population
    preferences: tuple[float, ...]  # over ACTIVITY_TYPES
    session_minutes: float  # median daily session length
    light_p: float  # chance that a free awake minute is lightly active
    resting_hr: float
    sleep_hours: float
    weekend_factor: float  # session length multiplier on Saturday and Sunday
    weekend_light: float  # background activity multiplier on weekends (commuters move less)
    session_hour: float  # preferred session start (hour of day)
    non_wear: float  # relative propensity to leave the tracker at home


PERSONAS: tuple[Persona, ...] = (
    Persona("sedentary_office", 0.30, (0.75, 0.0, 0.0, 0.0, 0.12, 0.08, 0.05), 14, 0.12, 76, 6.6, 0.8, 0.7, 12.5, 3.0),
    Persona("casual_walker", 0.28, (0.62, 0.02, 0.06, 0.0, 0.08, 0.02, 0.20), 32, 0.22, 70, 7.3, 1.5, 1.2, 17.5, 1.0),
    Persona("runner", 0.15, (0.12, 0.68, 0.06, 0.0, 0.02, 0.10, 0.02), 38, 0.20, 56, 7.6, 1.6, 1.0, 7.0, 0.4),
    Persona("cyclist_triathlete", 0.10, (0.04, 0.20, 0.46, 0.22, 0.0, 0.08, 0.0), 80, 0.18, 54, 7.7, 1.5, 1.0, 6.5,
            0.4),
    Persona("yoga_gym", 0.17, (0.08, 0.02, 0.0, 0.03, 0.42, 0.45, 0.0), 55, 0.20, 64, 7.8, 1.1, 1.0, 18.5, 0.7),
)
PERSONA_NAMES: tuple[str, ...] = tuple(p.name for p in PERSONAS)


@dataclass(frozen=True)
class Users:
    """Per-user trait arrays, all of length n, sorted by user_id (the real export is sorted by Id)."""

    user_id: np.ndarray  # int64, 10 digits
    persona: np.ndarray  # index into PERSONAS
    preferences: np.ndarray  # (n, 7) cumulative preference
    session_minutes: np.ndarray
    session_hour: np.ndarray
    weekend_factor: np.ndarray
    weekend_light: np.ndarray
    light_p: np.ndarray
    fairly_p: np.ndarray
    cadence_factor: np.ndarray
    resting_hr: np.ndarray
    in_bed_hours: np.ndarray
    wake_hour: np.ndarray
    weekend_sleep_shift: np.ndarray
    sleep_efficiency: np.ndarray
    weight_kg: np.ndarray
    height_m: np.ndarray
    bmr: np.ndarray  # kcal per day
    neat: np.ndarray  # everyday energy use on top of BMR (fidgeting, digestion): a multiplier of 0.95-1.2
    stride_m: np.ndarray
    non_wear_weight: np.ndarray  # mean 1 over the population
    tracks_sleep: np.ndarray
    sleep_log_p: np.ndarray
    tracks_hr: np.ndarray
    logs_weight: np.ndarray
    weight_manual: np.ndarray
    weight_log_p: np.ndarray
    weight_drift: np.ndarray  # kg per day
    logs_activities: np.ndarray

    def __len__(self) -> int:
        return len(self.user_id)


def draw_user_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct 10-digit ids, so synthetic users look like Fitbit's and stay BIGINT-sized."""
    ids = np.empty(0, dtype=np.int64)
    while len(ids) < n:
        more = rng.integers(1_000_000_000, 10_000_000_000, size=n + 16, dtype=np.int64)
        ids = np.concatenate([ids, more])
        _, first = np.unique(ids, return_index=True)
        ids = ids[np.sort(first)]
    return ids[:n]


def draw_users(seed: int, n: int) -> Users:
    rng = np.random.default_rng([seed, 0])
    ids = np.sort(draw_user_ids(rng, n))
    shares = np.array([p.share for p in PERSONAS])
    persona = rng.choice(len(PERSONAS), size=n, p=shares / shares.sum())

    def trait(attr: str) -> np.ndarray:
        return np.array([getattr(p, attr) for p in PERSONAS], dtype=float)[persona]

    prefs = np.array([p.preferences for p in PERSONAS])[persona] + 0.005
    prefs = np.vstack([rng.dirichlet(row * 25.0) for row in prefs])
    female = rng.random(n) < 0.5
    height = np.where(female, rng.normal(1.64, 0.06, n), rng.normal(1.77, 0.07, n))
    fitness_bmi = np.where(persona == 0, 28.0, np.where(persona == 1, 25.5, 23.0))
    weight = np.clip(rng.normal(fitness_bmi, 2.5, n), 17.5, 45.0) * height**2
    age = rng.integers(20, 65, n)
    # Mifflin-St Jeor BMR, so calories on non-wear days look like the real export's (~1,500-2,000 kcal).
    bmr = 10 * weight + 625 * height - 5 * age + np.where(female, -161, 5)
    non_wear = trait("non_wear") * rng.gamma(2.0, 0.5, n)
    tracks_hr = rng.random(n) < 0.10
    return Users(
        user_id=ids,
        persona=persona,
        preferences=np.cumsum(prefs, axis=1),
        session_minutes=trait("session_minutes") * rng.lognormal(0.0, 0.2, n),
        session_hour=trait("session_hour") + rng.normal(0, 1.0, n),
        weekend_factor=trait("weekend_factor") * rng.lognormal(0.0, 0.1, n),
        weekend_light=trait("weekend_light") * rng.lognormal(0.0, 0.1, n),
        light_p=np.clip(trait("light_p") * rng.lognormal(0.0, 0.4, n), 0.02, 0.6),
        fairly_p=np.clip(rng.normal(0.012, 0.005, n), 0.0, 0.05),
        cadence_factor=rng.lognormal(0.0, 0.08, n),
        resting_hr=trait("resting_hr") + rng.normal(0, 4.0, n),
        in_bed_hours=trait("sleep_hours") / 0.92 + rng.normal(0, 0.6, n),
        wake_hour=rng.normal(6.8, 0.6, n),
        weekend_sleep_shift=np.clip(rng.normal(1.0, 0.5, n), 0.0, 2.5),
        sleep_efficiency=np.clip(rng.normal(0.92, 0.03, n), 0.75, 0.98),
        weight_kg=weight,
        height_m=height,
        bmr=bmr,
        neat=rng.uniform(0.95, 1.2, n),
        stride_m=height * 0.415,
        non_wear_weight=non_wear / non_wear.mean(),
        tracks_sleep=rng.random(n) < 0.72,
        sleep_log_p=rng.uniform(0.5, 0.98, n),
        tracks_hr=tracks_hr,
        logs_weight=rng.random(n) < 0.25,
        weight_manual=rng.random(n) < 0.6,
        weight_log_p=rng.uniform(0.1, 0.6, n),
        weight_drift=rng.normal(0.0, 0.01, n),
        logs_activities=rng.random(n) < 0.5,
    )
