"""Each pipeline fits on generated data with structure and beats its baseline (no MLflow here)."""

from __future__ import annotations

import pytest

from fitlake.ml import features as fx
from fitlake.ml import models as mdl
from fitlake.ml.train import CALORIES_SPECS, PERSONA_FEATURES, fit_activity_type, fit_calories, fit_recommender

from ml_synth import (ACTIVITY_SCHEMA, DAILY_SCHEMA, SLEEP_SCHEMA, activity_rows, daily_rows, make_users,
                       sleep_rows)

USERS = make_users(36)
DAYS = 28


@pytest.fixture(scope="module")
def activity(spark):
    return spark.createDataFrame(activity_rows(USERS, DAYS), ACTIVITY_SCHEMA).cache()


@pytest.fixture(scope="module")
def daily(spark):
    return spark.createDataFrame(daily_rows(USERS, DAYS), DAILY_SCHEMA).cache()


def test_personas_kmeans_beats_random_assignment(spark, activity, daily):
    sleep = spark.createDataFrame(sleep_rows(USERS, DAYS), SLEEP_SCHEMA)
    users = fx.user_behaviour(fx.daily_from_silver(daily), sleep, activity).cache()
    fit = mdl.fit_personas(users, PERSONA_FEATURES, range(2, 6))
    assert set(fit.silhouette_by_k) == {2, 3, 4, 5} and fit.k == max(fit.silhouette_by_k, key=fit.silhouette_by_k.get)
    scores = mdl.persona_silhouettes(fit.model, users)
    assert scores["silhouette"] > 0.5 > scores["baseline_silhouette"]
    names = mdl.persona_model_names(fit.model)
    assert len(names) == fit.k and len(set(names)) == fit.k
    assert fit.k == 3  # the generator has three behaviour groups


def test_activity_type_beats_majority_class(activity):
    model, cutoff, numeric, labels, train, test, confusion, m, _ = fit_activity_type(fx.activity_features(activity))
    assert len(labels) == 7 and "speed_kmh" in numeric
    assert m["accuracy"] > m["baseline_accuracy"] + 0.3
    assert m["macro_f1"] > m["baseline_macro_f1"] + 0.3
    assert sum(confusion.values()) == test.count()


@pytest.mark.parametrize("source", ["activity", "fitbit"])
def test_calories_beats_mean_predictor(activity, daily, source):
    frame = (fx.activity_features(activity).transform(fx.filter_wear_days()) if source == "activity"
             else fx.fitbit_daily_features(daily).transform(fx.filter_wear_days("total_steps")))
    spec, model, cutoff, train, test, predictions, mean, m = fit_calories(frame, CALORIES_SPECS[source])
    assert test.agg({"date": "min"}).first()[0] > cutoff >= train.agg({"date": "max"}).first()[0]
    assert m["r2"] > 0.8 and m["baseline_r2"] < 0.05
    assert m["rmse"] < m["baseline_rmse"] and m["mae"] < m["baseline_mae"]


def test_recommender_beats_most_popular(activity):
    model, cutoff, ratings, relevant, popular, m, _ = fit_recommender(activity)
    assert model.stages[-1].rank == 4 and len(popular) == 7
    assert m["precision_at_k"] > m["baseline_precision_at_k"]
    assert m["map_at_k"] > m["baseline_map_at_k"]
