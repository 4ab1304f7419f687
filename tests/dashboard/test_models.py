"""dashboard.models: champions, signatures and fitted-pipeline metadata read without a JVM; predictions with one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fitlake.config import Settings
from fitlake.dashboard import models

# the shared fixture lakehouse trains and logs three Spark ML models (minutes on a busy machine): make test, not
# make test-fast
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cards(lakehouse):
    out = {}
    for role in ("activity_type", "calories", "personas"):
        champ = models.champion(lakehouse, role)
        out[role] = models.model_card(champ, models.download_model(lakehouse, champ))
    return out


def test_roles_map_to_the_trainers_model_keys():
    from fitlake.ml.train import CALORIES_SPECS, MODELS

    keys = set(MODELS) | {spec.model_key for spec in CALORIES_SPECS.values()}
    assert set(models.MODELS.values()) <= keys


def test_champion_missing_store_and_unregistered_model(lakehouse, tmp_path):
    assert models.champion(Settings(root=tmp_path), "personas") is None  # no mlflow.db at all
    assert models.champion(lakehouse, "recommend") is None  # store exists, model not registered
    champ = models.champion(lakehouse, "personas")
    assert (champ.name, champ.version, champ.uri) == ("fitlake_personas", "1", "models:/fitlake_personas@champion")
    frame = models.champions_frame(lakehouse).set_index("model")
    assert frame.loc["recommend", "metrics"] == "not registered"
    assert "silhouette=" in frame.loc["personas", "metrics"]


def test_inputs_come_from_the_signature_with_the_categories_the_model_learned(lakehouse, cards):
    from deltalake import DeltaTable

    calories = {i.name: i for i in cards["calories"].inputs}
    activity = DeltaTable(lakehouse.table("silver", "activity").path).to_pandas()
    assert calories["activity_type"].options == tuple(sorted(activity["activity_type"].unique()))
    assert {int(u) for u in calories["user_id"].options} == set(activity["user_id"])
    assert calories["steps"].is_numeric and calories["steps"].default is not None
    assert cards["activity_type"].class_labels  # from the pipeline's IndexToString
    assert set(cards["activity_type"].class_labels) == set(activity["activity_type"])


def test_input_frame_types_follow_the_signature(cards):
    card = cards["calories"]
    frame = models.input_frame(card, {"steps": 1200})
    assert list(frame.columns) == [i.name for i in card.inputs]
    types = {i.name: i.type for i in card.inputs}
    assert str(frame["user_id"].dtype) == {"long": "int64", "integer": "int32"}[types["user_id"]]
    assert frame.loc[0, "steps"] == 1200


def test_kmeans_centroids_are_unscaled_and_named_like_the_features(spark, lakehouse, cards):
    import mlflow.spark

    card = cards["personas"]
    centroids = models.kmeans_centroids(card.stages)
    pipeline = mlflow.spark.load_model(str(card.model_dir))
    scaler, kmeans = pipeline.stages[-2], pipeline.stages[-1]
    std, mean = scaler.std.toArray(), scaler.mean.toArray()
    expected = [list(c * std + mean) for c in kmeans.clusterCenters()]
    imputer = next(s for s in pipeline.stages if type(s).__name__ == "ImputerModel")
    assert list(centroids.columns) == ["cluster", *imputer.getInputCols()]
    np.testing.assert_allclose(centroids.drop(columns="cluster").to_numpy(), np.array(expected), rtol=1e-9)


def test_silhouette_curve_and_persona_names_from_the_run(lakehouse):
    champ = models.champion(lakehouse, "personas")
    metrics = models.run_metrics(lakehouse, champ.run_id)
    curve = models.silhouette_curve(lakehouse, champ.run_id)
    assert curve["k"].tolist() == [2, 3]
    assert curve["silhouette"].tolist() == [metrics["silhouette_k2"], metrics["silhouette_k3"]]
    assert len(models.persona_names(lakehouse, champ.run_id)) == 3
    assert models.silhouette_curve(lakehouse, None).empty


def test_predictions_from_the_champions(spark, lakehouse, cards):
    card = cards["activity_type"]
    label = models.predict(card, models.load_predictor(lakehouse, card), {})
    assert label in card.class_labels
    card = cards["calories"]
    kcal = models.predict(card, models.load_predictor(lakehouse, card), {"steps": 8000.0})
    assert isinstance(kcal, float) and 0 < kcal < 10_000


def test_classifier_index_maps_to_its_label():
    card = models.ModelCard(models.Champion("r", "m", "1", None, None), None, ("spark",),
                            class_labels=("walking", "running"))

    class Fixed:
        def __init__(self, value):
            self.value = value

        def predict(self, frame):
            return [self.value]

    assert models.predict(card, Fixed(1.0), {}) == "running"
    assert models.predict(card, Fixed(7.0), {}) == "(unknown class 7)"
    assert models.predict(card, Fixed(pd.Series(["yoga"]).iloc[0]), {}) == "yoga"
