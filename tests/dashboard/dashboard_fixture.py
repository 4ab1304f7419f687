"""A tiny lakehouse with the contract columns, for the dashboard tests.

Tables are written with ``deltalake`` (milliseconds, no JVM work); one silver table is written and MERGEd by
delta-spark so the dashboard is also checked against the real writer's logs. The MLflow store holds small Spark ML
pipelines registered with the ``champion`` alias, shaped like the ML engineer's: a StringIndexer on the label with
IndexToString, one-hot categorical inputs, and a scaled KMeans with a silhouette per k.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from deltalake import write_deltalake

from fitlake.config import Settings

USERS = (1503960366, 1624580081, 1644430081, 2022484408, 2026352035, 4020332650)
ACTIVITY_TYPES = ("walking", "running", "cycling", "swimming", "yoga", "gym_workout", "hiking")
START = dt.date(2023, 4, 1)
DAYS = 14
SEGMENTS = ("Low", "Medium", "High")
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
    days = _days()
    fact = pd.DataFrame(
        {
            "user_id": activity["user_id"],
            "date": activity["date"],
            "date_key": [int(d.strftime("%Y%m%d")) for d in activity["date"]],
            "steps": activity["steps"],
            "distance_km": activity["distance_km"],
            "calories": activity["calories_burned"].round().astype("int32"),
            "very_active_minutes": rng.integers(0, 60, len(activity)).astype("int32"),
            "fairly_active_minutes": rng.integers(0, 40, len(activity)).astype("int32"),
            "lightly_active_minutes": rng.integers(60, 300, len(activity)).astype("int32"),
            "sedentary_minutes": rng.integers(500, 1000, len(activity)).astype("int32"),
            "is_non_wear": activity["is_non_wear"],
        }
    )
    fact["total_active_minutes"] = (
        fact["very_active_minutes"] + fact["fairly_active_minutes"] + fact["lightly_active_minutes"]
    ).astype("int32")
    time_in_bed = rng.integers(360, 560, len(fact)).astype("int32")
    asleep = (time_in_bed * rng.uniform(0.8, 0.98, len(fact))).astype("int32")
    sleep = pd.DataFrame(
        {
            "user_id": fact["user_id"],
            "date": fact["date"],
            "date_key": fact["date_key"],
            "minutes_asleep": asleep,
            "time_in_bed": time_in_bed,
            "sleep_records": np.ones(len(fact), dtype="int32"),
            "sleep_efficiency": asleep / time_in_bed,
        }
    )
    activity_score = np.clip(fact["steps"] / 100, 0, 100)
    sleep_score = np.clip(sleep["sleep_efficiency"] * 100, 0, 100)
    wellness = pd.DataFrame(
        {
            "user_id": fact["user_id"],
            "date": fact["date"],
            "activity_score": activity_score,
            "sleep_score": sleep_score,
            "wellness_score": ((activity_score + sleep_score) / 2).round(1),
        }
    )
    trailing = fact.groupby("user_id")["total_active_minutes"].transform(lambda s: s.rolling(7, 1).sum())
    engagement = pd.DataFrame(
        {
            "user_id": fact["user_id"],
            "date": fact["date"],
            "trailing_7d_active_minutes": trailing.astype("int64"),
            "engagement_segment": pd.cut(trailing, [-1, 1_000, 1_600, 10**9], labels=list(SEGMENTS)).astype(str),
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
    alerts = []
    for w in range(6):
        start = T0 + dt.timedelta(seconds=30 * w)
        for u in USERS[:3]:
            steps = int(rng.integers(10, 90))
            windows.append(
                {
                    "window_start": start,
                    "window_end": start + dt.timedelta(seconds=30),
                    "user_id": u,
                    "events": int(rng.integers(1, 6)),
                    "steps": steps,
                    "calories": float(round(steps * 0.05, 2)),
                    "avg_heart_rate": float(round(rng.uniform(70, 140), 1)),
                }
            )
    for i, u in enumerate(USERS[:2]):
        alerts.append(
            {
                "user_id": u,
                "date": T0.date(),
                "alert_time": T0 + dt.timedelta(minutes=i),
                "steps_today": 10_000 + 250 * i,
                "step_goal": 10_000,
                "alert": "daily step goal reached",
            }
        )
    personas = pd.DataFrame({"user_id": list(USERS), "persona_id": np.array([0, 1, 2, 0, 1, 0], dtype="int32")})
    personas["persona"] = personas["persona_id"].map({0: "Active", 1: "Balanced", 2: "Sedentary"})
    recommendations = pd.DataFrame(
        [
            {"user_id": u, "rank": r + 1, "activity_type": ACTIVITY_TYPES[(i + r) % 7], "score": 1.0 - 0.2 * r}
            for i, u in enumerate(USERS)
            for r in range(3)
        ]
    ).astype({"rank": "int32"})
    predicted = fact[["user_id", "date"]].assign(
        actual_calories=fact["calories"].astype("float64"),
        predicted_calories=fact["calories"] + rng.normal(0, 30, len(fact)),
    )
    return {
        "dim_user": pd.DataFrame({"user_id": list(USERS), "source": ["fitbit"] * 3 + ["synthetic"] * 3}),
        "dim_date": pd.DataFrame(
            {
                "date_key": [int(d.strftime("%Y%m%d")) for d in days],
                "date": days,
                "year": [d.year for d in days],
                "month": [d.month for d in days],
                "day_of_month": [d.day for d in days],
                "day_of_week": [d.isoweekday() for d in days],
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
        "kpi_wellness_daily": wellness,
        "kpi_engagement_daily": engagement,
        "event_windows": pd.DataFrame(windows),
        "goal_alerts": pd.DataFrame(alerts),
        "user_personas": personas,
        "activity_recommendations": recommendations,
        "predicted_calories": predicted,
    }


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


def train_models(spark, settings: Settings, activity: pd.DataFrame) -> None:
    """Fit and register the three Spark ML pipelines the dashboard reads, each @champion."""
    import mlflow
    from mlflow.models import infer_signature
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.feature import IndexToString, OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
    from pyspark.ml.regression import LinearRegression

    from fitlake.dashboard.models import MODELS

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_registry_uri)
    client = mlflow.MlflowClient()
    train = spark.createDataFrame(activity.drop(columns=["_source_file", "_ingested_at", "_updated_at"]))
    train.cache()

    def register(key: str, model, inputs: list[str], output: pd.DataFrame, metrics: dict, params=None, steps=None):
        name = settings.model_name(key)
        experiment = settings.experiment_name(key)
        if client.get_experiment_by_name(experiment) is None:
            client.create_experiment(experiment, artifact_location=settings.mlflow_artifact_location)
        mlflow.set_experiment(experiment)
        t0 = time.perf_counter()
        example = activity[inputs].head(3)
        with mlflow.start_run(run_name=f"{key}-fixture") as run:
            mlflow.log_metrics(metrics)
            mlflow.log_params(params or {})
            for step, value in (steps or {}).items():
                mlflow.log_metric("silhouette", value, step=step)
            mlflow.spark.log_model(
                model,
                artifact_path="model",
                signature=infer_signature(example, output),
                input_example=example,
                pip_requirements=["pyspark"],
                validate_serving_input=False,
            )
        print("log_model", key, time.perf_counter() - t0)
        version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
        client.set_registered_model_alias(name, "champion", version.version)

    numeric = ["steps", "calories_burned", "heart_rate_avg", "duration_minutes", "distance_km"]
    t0 = time.perf_counter()
    label = StringIndexer(inputCol="activity_type", outputCol="label", handleInvalid="keep").fit(train)
    classifier = Pipeline(
        stages=[
            label,
            VectorAssembler(inputCols=numeric, outputCol="features"),
            LogisticRegression(maxIter=5),
            IndexToString(inputCol="prediction", outputCol="predicted_activity_type", labels=label.labels),
        ]
    ).fit(train)
    print("fit clf", time.perf_counter() - t0)
    register(MODELS["activity_type"], classifier, numeric, pd.DataFrame({"prediction": [0.0]}), {"accuracy": 0.4})

    reg_inputs = ["activity_type", "steps", "duration_minutes", "heart_rate_avg"]
    regressor = Pipeline(
        stages=[
            StringIndexer(inputCol="activity_type", outputCol="activity_type_idx", handleInvalid="keep"),
            OneHotEncoder(inputCols=["activity_type_idx"], outputCols=["activity_type_vec"]),
            VectorAssembler(inputCols=["activity_type_vec", "steps", "duration_minutes", "heart_rate_avg"],
                            outputCol="features"),
            LinearRegression(labelCol="calories_burned", maxIter=5),
        ]
    ).fit(train)
    register(MODELS["calories"], regressor, reg_inputs, pd.DataFrame({"prediction": [0.0]}), {"rmse": 40.0})

    persona_inputs = ["steps", "sleep_hours", "heart_rate_avg"]
    assembler = VectorAssembler(inputCols=persona_inputs, outputCol="raw_features")
    scaler = StandardScaler(inputCol="raw_features", outputCol="features", withMean=True, withStd=True)
    curve = {}
    for k in (2, 3, 4):
        fitted = Pipeline(stages=[assembler, scaler, KMeans(k=k, seed=1, maxIter=5)]).fit(train)
        curve[k] = ClusteringEvaluator().evaluate(fitted.transform(train))
        if k == 3:
            kmeans = fitted
    register(MODELS["personas"], kmeans, persona_inputs, pd.DataFrame({"prediction": [0]}),
             {}, params={"k": 3}, steps=curve)
    train.unpersist()


def build(spark, root: Path) -> Settings:
    settings = Settings(root=root)
    activity = build_tables(settings)
    train_models(spark, settings, activity)
    return settings
