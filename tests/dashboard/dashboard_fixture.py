"""A tiny lakehouse with the contract columns, for the dashboard tests.

Tables are written with ``deltalake`` (milliseconds, no JVM work) with the columns of the gold DDL and the
streaming schemas; test_data.py checks the reader against tables delta-spark writes. The MLflow store holds
fitlake.ml's own pipelines (activity type, calories, personas) fitted on the tiny data with few iterations and
registered ``@champion`` the way fitlake.ml.tracking logs them (signature, input example, ``personas.json``,
``silhouette_k<k>`` metrics), without its slow serving-input validation.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from deltalake import write_deltalake

from fitlake.config import Settings

USERS = (1503960366, 1624580081, 1644430081, 1844505072, 2022484408, 2026352035, 4020332650, 4319703577)
ACTIVITY_TYPES = ("walking", "running", "cycling", "swimming", "yoga", "gym_workout", "hiking")
START = dt.date(2023, 4, 1)
DAYS = 14
T0 = dt.datetime(2023, 4, 14, 8, 0, tzinfo=dt.timezone.utc)


def _write(settings: Settings, layer: str, name: str, frame: pd.DataFrame | pa.Table, mode: str = "overwrite") -> None:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    write_deltalake(settings.table(layer, name).path, table, mode=mode)


def _days() -> list[dt.date]:
    return [START + dt.timedelta(days=i) for i in range(DAYS)]


def activity_frame(rng: np.random.Generator) -> pd.DataFrame:
    """silver.activity: one record per user per day; steps 0 on a non-wear day (ratio null there)."""
    rows = []
    for u_i, user in enumerate(USERS):
        for d_i, day in enumerate(_days()):
            kind = ACTIVITY_TYPES[(u_i + d_i) % len(ACTIVITY_TYPES)]
            steps = 0 if (u_i, d_i) == (0, 3) else int(rng.integers(1_500, 16_000))
            duration = int(rng.integers(20, 120))
            calories = float(round(1_600 + steps * 0.04 + duration * 3 + rng.normal(0, 40), 1))
            rows.append(
                {
                    "user_id": user,
                    "date": day,
                    "activity_type": kind,
                    "steps": steps,
                    "calories_burned": calories,
                    "heart_rate_avg": float(round(rng.uniform(60, 150), 1)),
                    "sleep_hours": float(round(rng.uniform(5, 9), 2)),
                    "duration_minutes": duration,
                    "distance_km": float(round(steps * 0.0008, 3)),
                    "calories_to_steps_ratio": (calories / steps) if steps else None,
                    "day_of_week": day.isoweekday(),
                    "is_weekend": day.isoweekday() >= 6,
                    "is_non_wear": steps == 0,
                    "_source_file": f"activity/date={day}/part-00000.json",
                    "_ingested_at": dt.datetime(2023, 4, 15, tzinfo=dt.timezone.utc),
                    "_updated_at": dt.datetime(2023, 4, 15, tzinfo=dt.timezone.utc),
                }
            )
    frame = pd.DataFrame(rows)
    return frame.astype({"steps": "int32", "duration_minutes": "int32", "day_of_week": "int32"})


def gold_frames(activity: pd.DataFrame, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Gold tables with the columns of fitlake/gold/sql/ddl.sql and fitlake.streaming.schema."""
    days = _days()
    n = len(activity)
    updated = activity["_updated_at"]
    very = rng.integers(0, 60, n).astype("int32")
    fairly = rng.integers(0, 40, n).astype("int32")
    lightly = rng.integers(60, 300, n).astype("int32")
    fact = pd.DataFrame(
        {
            "user_id": activity["user_id"],
            "date": activity["date"],
            "date_key": [int(d.strftime("%Y%m%d")) for d in activity["date"]],
            "activity_type_key": activity["activity_type"].map({t: i + 1 for i, t in enumerate(ACTIVITY_TYPES)})
            .astype("int32"),
            "activity_type": activity["activity_type"],
            "steps": activity["steps"],
            "distance_km": activity["distance_km"],
            "calories": activity["calories_burned"],
            "very_active_minutes": very,
            "fairly_active_minutes": fairly,
            "lightly_active_minutes": lightly,
            "sedentary_minutes": rng.integers(500, 1000, n).astype("int32"),
            "total_active_minutes": (very + fairly + lightly).astype("int32"),
            "active_minutes": (very + fairly).astype("int32"),
            "duration_minutes": activity["duration_minutes"],
            "heart_rate_avg": activity["heart_rate_avg"],
            "sleep_hours": activity["sleep_hours"],
            "is_non_wear": activity["is_non_wear"],
            "source": "activity",
            "_updated_at": updated,
        }
    )
    time_in_bed = rng.integers(360, 560, n).astype("int32")
    time_in_bed[5] = 0  # a night with no time in bed: efficiency is null, not a division by zero
    asleep = (time_in_bed * rng.uniform(0.75, 0.98, n)).astype("int32")
    efficiency = np.where(time_in_bed > 0, asleep / np.maximum(time_in_bed, 1), np.nan)
    sleep = pd.DataFrame(
        {
            "user_id": fact["user_id"],
            "date": fact["date"],
            "date_key": fact["date_key"],
            "minutes_asleep": asleep,
            "time_in_bed": time_in_bed,
            "sleep_records": np.ones(n, dtype="int32"),
            "sleep_efficiency": efficiency,
            "_updated_at": updated,
        }
    )
    steps_c = np.clip(fact["steps"] / 10_000, 0, 1)
    active_c = np.clip(fact["active_minutes"] / 60, 0, 1)
    sleep_c = np.clip(fact["sleep_hours"] / 7, 0, 1)
    wellness = pd.DataFrame(
        {
            "user_id": fact["user_id"],
            "date": fact["date"],
            "date_key": fact["date_key"],
            "steps": fact["steps"],
            "active_minutes": fact["active_minutes"],
            "sleep_hours": fact["sleep_hours"],
            "steps_component": steps_c,
            "active_component": active_c,
            "sleep_component": sleep_c,
            "sleep_component_missing": False,
            "wellness_score": (100 * (0.4 * steps_c + 0.3 * active_c + 0.3 * sleep_c)).round(1),
            "incomplete_inputs": [_wellness_flags(u, d) for u, d in zip(fact["user_id"], fact["date"])],
            "_updated_at": updated,
        }
    )
    trailing = fact.groupby("user_id")["active_minutes"].transform(lambda s: s.rolling(7, 1).mean())
    weekly = trailing * 7
    engagement = pd.DataFrame(
        {
            "user_id": fact["user_id"],
            "date": fact["date"],
            "date_key": fact["date_key"],
            "active_minutes": fact["active_minutes"],
            "trailing_active_minutes": trailing,
            "trailing_wear_days": fact.groupby("user_id").cumcount().clip(upper=6).add(1).astype("int64"),
            "weekly_active_minutes": weekly,
            "engagement_segment": np.where(weekly >= 300, "High", np.where(weekly >= 200, "Medium", "Low")),
            "_updated_at": updated,
        }
    )
    hours = [dt.datetime.combine(d, dt.time(h), tzinfo=dt.timezone.utc) for d in days[:2] for h in range(24)]
    hourly = pd.DataFrame(
        [
            {
                "user_id": u,
                "activity_hour": h,
                "date": h.date(),
                "hour": h.hour,
                "steps": int(rng.integers(0, 1200)),
                "calories": int(rng.integers(50, 200)),
                "total_intensity": int(rng.integers(0, 60)),
                "average_intensity": float(rng.uniform(0, 1)),
            }
            for u in USERS
            for h in hours
        ]
    ).astype({"hour": "int32", "steps": "int32", "calories": "int32", "total_intensity": "int32"})
    windows = []
    for w in range(6):
        start = T0 + dt.timedelta(seconds=30 * w)
        for i, u in enumerate(USERS[:3]):
            steps = int(rng.integers(10, 90))
            windows.append(
                {
                    "user_id": u,
                    "activity_type": ACTIVITY_TYPES[i],
                    "window_start": start,
                    "window_end": start + dt.timedelta(seconds=30),
                    "steps": steps,
                    "calories": float(round(steps * 0.05, 2)),
                    "avg_heart_rate": float(round(rng.uniform(70, 140), 1)),
                    "max_heart_rate": int(rng.integers(140, 170)),
                    "event_count": int(rng.integers(1, 6)),
                }
            )
    alerts = pd.DataFrame(
        {
            "user_id": list(USERS[:2]),
            "date": [T0.date()] * 2,
            "goal": np.array([10_000, 10_000], dtype="int32"),
            "steps_at_alert": [10_040, 10_310],
            "crossed_at": [T0 + dt.timedelta(minutes=i) for i in range(2)],
            "alerted_at": [T0 + dt.timedelta(minutes=i, seconds=40) for i in range(2)],
        }
    )
    recommendations = pd.DataFrame(
        [
            {"user_id": u, "rank": r + 1, "activity_type": ACTIVITY_TYPES[(i + r) % 7], "score": 1.0 - 0.2 * r}
            for i, u in enumerate(USERS)
            for r in range(3)
        ]
    ).astype({"rank": "int32"})
    predicted = fact[["user_id", "date"]].assign(
        calories_burned=fact["calories"], predicted_calories=fact["calories"] + rng.normal(0, 30, n)
    )
    recorded = [ACTIVITY_TYPES[i % 7] for i in range(n)]
    predicted_types = fact[["user_id", "date"]].assign(
        actual_activity_type=recorded,
        predicted_activity_type=[t if i % 4 else ACTIVITY_TYPES[(i + 1) % 7] for i, t in enumerate(recorded)],
        probability=np.linspace(0.4, 1.0, n),
    )
    per_user = fact.groupby("user_id")
    return {
        "dim_user": pd.DataFrame(
            {
                "user_id": list(USERS),
                "first_date": [START] * len(USERS),
                "last_date": [days[-1]] * len(USERS),
                "days_tracked": np.full(len(USERS), DAYS, dtype="int32"),
                "non_wear_days": per_user["is_non_wear"].sum().reindex(list(USERS)).astype("int32").to_numpy(),
                "avg_daily_steps": per_user["steps"].mean().reindex(list(USERS)).to_numpy(),
            }
        ),
        "dim_date": pd.DataFrame(
            {
                "date_key": np.array([int(d.strftime("%Y%m%d")) for d in days], dtype="int32"),
                "date": days,
                "year": np.array([d.year for d in days], dtype="int32"),
                "month": np.array([d.month for d in days], dtype="int32"),
                "day_of_month": np.array([d.day for d in days], dtype="int32"),
                "day_of_week": np.array([d.isoweekday() for d in days], dtype="int32"),
                "is_weekend": [d.isoweekday() >= 6 for d in days],
                "week_start": [d - dt.timedelta(days=d.weekday()) for d in days],
            }
        ),
        "dim_activity_type": pd.DataFrame(
            {"activity_type_key": np.arange(1, 8, dtype="int32"), "activity_type": list(ACTIVITY_TYPES)}
        ),
        "fact_daily_activity": fact,
        "fact_sleep": sleep,
        "fact_hourly_activity": hourly,
        "data_completeness": completeness_frame(fact),
        "kpi_wellness_daily": wellness,
        "kpi_engagement_daily": engagement,
        "event_windows": pd.DataFrame(windows).astype({"steps": "int64", "max_heart_rate": "int32"}),
        "goal_alerts": alerts,
        "activity_recommendations": recommendations,
        "predicted_calories": predicted,
        "predicted_activity_type": predicted_types,
    }


INCOMPLETE_DAY = (1644430081, dt.date(2023, 4, 1))  # no sleep log that night (the browser test looks for it)


QUARANTINED_DAYS = {(1503960366, dt.date(2023, 4, 2)): 1, (1624580081, dt.date(2023, 4, 3)): 1}


def _wellness_flags(user: int, day: dt.date) -> str | None:
    """kpi_wellness_daily.incomplete_inputs as the gold job derives it from completeness_frame()."""
    flags = [f for f, on in (("activity:quarantined", (user, day) in QUARANTINED_DAYS),
                             ("sleep_day:missing", (user, day) == INCOMPLETE_DAY)) if on]
    return ",".join(flags) or None


def completeness_frame(fact: pd.DataFrame) -> pd.DataFrame:
    """gold.data_completeness for the fixture's user-days: the activity export's daily record on every day, a night
    on every day but INCOMPLETE_DAY, hourly and heart-rate data on the first two days only (like
    fact_hourly_activity), and the rows of quarantine_frame() that have a readable day, counted on their day."""
    days = _days()
    quarantined = QUARANTINED_DAYS
    rows = []
    for user, day in zip(fact["user_id"], fact["date"]):
        sleep = (user, day) != INCOMPLETE_DAY
        hourly = day in days[:2]
        missing = [n for n, gap in (("sleep_day", not sleep), ("hourly_steps", not hourly),
                                    ("hourly_calories", not hourly), ("hourly_intensities", not hourly),
                                    ("heartrate_seconds", not hourly)) if gap]
        q = quarantined.get((user, day), 0)
        rows.append({
            "user_id": user, "date": day, "date_key": int(day.strftime("%Y%m%d")), "has_daily_activity": False,
            "has_activity_record": True, "has_sleep": sleep, "hourly_complete_hours": 24 if hourly else 0,
            "hourly_coverage": 1.0 if hourly else 0.0, "heart_rate_hours": 24 if hourly else 0,
            "missing_inputs": ",".join(missing) or None, "quarantined_inputs": "activity" if q else None,
            "quarantined_rows": q, "is_complete": not missing and not q,
        })
    frame = pd.DataFrame(rows)
    return frame.astype({"date_key": "int32", "hourly_complete_hours": "int32", "heart_rate_hours": "int32",
                         "quarantined_rows": "int64"})


def quarantine_frame() -> pd.DataFrame:
    """quarantine.activity: raw bronze text + the failed rule; 2 x negative steps, 1 x bad date."""
    raw = [
        ("1503960366", "2023-04-02", "walking", "-5", "negative_steps"),
        ("1624580081", "2023-04-03", "running", "-1", "negative_steps"),
        ("1644430081", "04/31/2023", "yoga", "100", "invalid_date"),
    ]
    return pd.DataFrame(
        {
            "user_id": [r[0] for r in raw],
            "date": [r[1] for r in raw],
            "activity_type": [r[2] for r in raw],
            "steps": [r[3] for r in raw],
            "_source_file": ["activity/date=2023-04-02/part-00000.json"] * 3,
            "_line": pd.array([3, 7, 9], dtype="int32"),
            "_rule": [r[4] for r in raw],
            "_quarantined_at": [dt.datetime(2023, 4, 15, tzinfo=dt.timezone.utc)] * 3,
        }
    )


def bronze_frame(activity: pd.DataFrame) -> pd.DataFrame:
    """bronze.activity: every field as raw text plus the lineage columns."""
    raw = activity[["user_id", "date", "activity_type", "steps", "calories_burned"]].astype(str)
    return raw.assign(
        _rescued_data=None,
        _corrupt_record=None,
        _source_file=activity["_source_file"],
        _line=np.arange(1, len(raw) + 1, dtype="int32"),
        _ingested_at=activity["_ingested_at"],
        _batch_id=np.zeros(len(raw), dtype="int64"),
    ).astype({"_rescued_data": "string", "_corrupt_record": "string"})


def build_tables(settings: Settings, seed: int = 7) -> pd.DataFrame:
    """Write every table of the fixture; returns silver.activity (the models' training data)."""
    rng = np.random.default_rng(seed)
    activity = activity_frame(rng)
    _write(settings, "silver", "activity", activity)
    _write(settings, "bronze", "activity", bronze_frame(activity))
    _write(settings, "quarantine", "activity", quarantine_frame())
    for name, frame in gold_frames(activity, rng).items():
        _write(settings, "gold", name, frame)
    # A second commit on one table, so freshness and history show more than version 0.
    more = gold_frames(activity, np.random.default_rng(seed + 1))["event_windows"]
    more[["window_start", "window_end"]] += dt.timedelta(minutes=5)
    _write(settings, "gold", "event_windows", more, mode="append")
    return activity


def _log(settings: Settings, key: str, model, example: pd.DataFrame, output: pd.DataFrame, metrics: dict,
         texts: dict | None = None) -> None:
    """Log and register like fitlake.ml.tracking.log_and_register, minus its slow serving-input validation."""
    import mlflow
    import mlflow.spark
    from mlflow.models import infer_signature

    from fitlake.ml import tracking

    tracking.configure(settings)
    with mlflow.start_run(experiment_id=tracking.ensure_experiment(settings, key)) as run:
        mlflow.log_metrics(metrics)
        for name, text in (texts or {}).items():
            mlflow.log_text(text, name)
        info = mlflow.spark.log_model(
            model, artifact_path="model", signature=infer_signature(example, output), input_example=example,
            pip_requirements=["pyspark"], validate_serving_input=False,
        )
    version = mlflow.register_model(info.model_uri, settings.model_name(key))
    mlflow.MlflowClient().set_registered_model_alias(settings.model_name(key), tracking.ALIAS, version.version)


def train_models(spark, settings: Settings, activity: pd.DataFrame) -> None:
    """Fit fitlake.ml's own pipelines on the tiny tables (few iterations) and register each as @champion."""
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.evaluation import ClusteringEvaluator

    from fitlake.ml import features as fx
    from fitlake.ml import models as mdl
    from fitlake.ml.data import persona_inputs
    from fitlake.ml.train import CALORIES_SPECS, PERSONA_FEATURES

    records = fx.activity_features(spark.createDataFrame(activity)).cache()
    example = records.limit(3).toPandas()

    numeric = tuple(c for c in fx.ACTIVITY_NUMERIC if c != "calories_to_steps_ratio")
    labels = mdl.fit_label_indexer(records)
    pipeline = mdl.activity_type_pipeline(list(labels.labels), numeric)
    pipeline.getStages()[-2].setMaxIter(5)
    classifier = pipeline.fit(labels.transform(records))
    inputs = ["user_id", *numeric, "day_of_week"]
    _log(settings, "activity", classifier, example[inputs],
         pd.DataFrame({"predicted_activity_type": ["walking"]}), {"macro_f1": 0.3, "accuracy": 0.35})

    spec = CALORIES_SPECS["activity"]
    regressor = mdl.calories_pipeline(spec).fit(records)
    _log(settings, "calories", regressor, example[["user_id", *spec.numeric, "activity_type", "day_of_week"]],
         pd.DataFrame({"prediction": [2000.0]}), {"r2": 0.8, "rmse": 45.0})

    users = persona_inputs(spark, settings).cache()
    features = tuple(c for c in PERSONA_FEATURES if c in users.columns)
    prep = mdl.persona_preprocessing(features).fit(users)
    scaled = prep.transform(users).cache()
    curve, fits = {}, {}
    for k in (2, 3):
        fits[k] = KMeans(k=k, seed=mdl.SEED, maxIter=10).fit(scaled)
        curve[k] = ClusteringEvaluator().evaluate(fits[k].transform(scaled))
    from pyspark.ml import PipelineModel

    personas = PipelineModel(stages=[*prep.stages, fits[3]])
    names = mdl.persona_model_names(personas)
    _log(settings, "personas", personas, users.limit(3).toPandas()[["user_id", *features]],
         pd.DataFrame({"prediction": [0]}),
         {"silhouette": curve[3], "k": 3, **{f"silhouette_k{k}": v for k, v in curve.items()}},
         texts={"personas.json": json.dumps(dict(enumerate(names)))})
    for df in (records, users, scaled):
        df.unpersist()


def write_personas(settings: Settings) -> None:
    """gold.user_personas as the scoring job would write it, named from the champion run's personas.json."""
    from fitlake.dashboard import models

    names = models.persona_names(settings, models.champion(settings, "personas").run_id)
    ids = np.array([i % len(names) for i in range(len(USERS))], dtype="int32")
    _write(settings, "gold", "user_personas",
           pd.DataFrame({"user_id": list(USERS), "persona_id": ids, "persona": [names[i] for i in ids]}))


def build(spark, root: Path) -> Settings:
    settings = Settings(root=root)
    activity = build_tables(settings)
    train_models(spark, settings, activity)
    write_personas(settings)
    return settings
