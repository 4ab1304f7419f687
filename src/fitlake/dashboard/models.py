"""MLflow reads for the dashboard: champions, metrics, silhouette curves, signatures and fitted Spark ML metadata.

Everything except ``load_predictor`` works without a JVM: a saved Spark ML pipeline is JSON metadata plus small
Parquet files per stage, so the labels a StringIndexer learned, the KMeans centres and the scaler's mean/std are
read with pyarrow. Spark starts only when the Live predictions page asks for a prediction.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fitlake.config import Settings

# Dashboard role -> model key of fitlake.ml.train (``Settings.model_name(key)`` gives the registered name).
MODELS: dict[str, str] = {
    "activity_type": "activity",
    "calories": "calories",
    "calories_fitbit": "calories_fitbit",
    "personas": "personas",
    "recommend": "recommend",
}
ALIAS = "champion"
NUMERIC_TYPES = ("integer", "long", "float", "double")


@dataclass(frozen=True)
class Champion:
    role: str
    name: str
    version: str
    run_id: str | None
    created: dt.datetime | None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{ALIAS}"


@dataclass(frozen=True)
class Stage:
    """One fitted stage of a saved Spark ML pipeline."""

    kind: str  # short class name, e.g. "StringIndexerModel"
    params: dict[str, Any]  # defaultParamMap overlaid with paramMap
    data_dir: Path | None


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str  # MLflow ColSpec type: "string", "long", "double", ...
    required: bool = True
    options: tuple[str, ...] = ()  # categorical values the model knows
    default: Any = None

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def is_integer(self) -> bool:
        return self.type in ("integer", "long")


@dataclass
class ModelCard:
    """What the dashboard needs to know about one champion, read once per version."""

    champion: Champion
    model_dir: Path
    flavors: tuple[str, ...]
    inputs: list[InputSpec] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    class_labels: tuple[str, ...] = ()  # index -> label of a classifier's prediction


def client(settings: Settings):
    """An MlflowClient on the lakehouse's tracking and registry store (no global state changed)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri)


def mlflow_store_exists(settings: Settings) -> bool:
    """Locally the store is a SQLite file; on Databricks it is always there."""
    return not settings.is_local or (settings.root / "mlflow.db").is_file()


def champion(settings: Settings, role: str) -> Champion | None:
    """The ``@champion`` version of a role's registered model, None when not registered (yet)."""
    from mlflow.exceptions import MlflowException

    if not mlflow_store_exists(settings):
        return None
    name = settings.model_name(MODELS[role])
    try:
        mv = client(settings).get_model_version_by_alias(name, ALIAS)
    except MlflowException:
        return None
    created = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=dt.timezone.utc) if mv.creation_timestamp else None
    return Champion(role, name, str(mv.version), mv.run_id, created)


def champions(settings: Settings) -> dict[str, Champion | None]:
    return {role: champion(settings, role) for role in MODELS}


def run_metrics(settings: Settings, run_id: str | None) -> dict[str, float]:
    if not run_id:
        return {}
    return dict(client(settings).get_run(run_id).data.metrics)


def champions_frame(settings: Settings) -> pd.DataFrame:
    """One row per role: registered name, champion version, registration time and the run's metrics."""
    rows = []
    for role, champ in champions(settings).items():
        row = {"model": role, "registered_name": settings.model_name(MODELS[role])}
        if champ is None:
            rows.append({**row, "champion_version": None, "registered_utc": None, "metrics": "not registered"})
            continue
        metrics = run_metrics(settings, champ.run_id)
        text = ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
        rows.append({**row, "champion_version": champ.version, "registered_utc": champ.created, "metrics": text})
    return pd.DataFrame(rows, columns=["model", "registered_name", "champion_version", "registered_utc", "metrics"])


def run_text(settings: Settings, run_id: str | None, artifact: str) -> str | None:
    """A text artifact of a run (e.g. the persona names the trainer logs), None when absent."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    try:
        return mlflow.artifacts.load_text(f"runs:/{run_id}/{artifact}")
    except (MlflowException, OSError):
        return None


def persona_names(settings: Settings, run_id: str | None) -> dict[int, str]:
    """Cluster index -> persona name, from the ``personas.json`` the persona trainer logs."""
    text = run_text(settings, run_id, "personas.json")
    if not text:
        return {}
    return {int(k): str(v) for k, v in json.loads(text).items()}


def download_model(settings: Settings, champ: Champion, dst: Path | None = None) -> Path:
    """A local copy of the champion's model folder (the one with ``MLmodel``)."""
    import mlflow

    # models:/ URIs resolve through the process-wide registry: the dashboard only ever talks to this store.
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_registry_uri)
    uri = f"models:/{champ.name}/{champ.version}"
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst) if dst else None))


def read_stages(model_dir: Path) -> list[Stage]:
    """The fitted stages of a Spark ML pipeline saved by ``mlflow.spark`` (empty for other flavours)."""
    stages_dir = Path(model_dir) / "sparkml" / "stages"
    if not stages_dir.is_dir():
        single = Path(model_dir) / "sparkml"
        return [_read_stage(single)] if (single / "metadata").is_dir() else []
    folders = sorted(
        (p for p in stages_dir.iterdir() if p.is_dir() and p.name.split("_", 1)[0].isdigit()),
        key=lambda p: int(p.name.split("_", 1)[0]),
    )
    return [_read_stage(p) for p in folders]


def _read_stage(folder: Path) -> Stage:
    meta_file = next(f for f in sorted((folder / "metadata").iterdir()) if f.name.startswith("part-"))
    meta = json.loads(meta_file.read_text().splitlines()[0])
    params = {**meta.get("defaultParamMap", {}), **meta.get("paramMap", {})}
    data = folder / "data"
    return Stage(meta["class"].rsplit(".", 1)[-1], params, data if data.is_dir() else None)


def _stage_data(stage: Stage) -> list[dict]:
    import pyarrow.parquet as pq

    if stage.data_dir is None:
        return []
    return pq.read_table(stage.data_dir).to_pylist()


def _vector(value: dict | None) -> list[float]:
    """A Spark ML vector as saved to Parquet (type 1 dense; type 0 sparse with size and indices)."""
    if not value:
        return []
    if value.get("type") == 0:
        out = [0.0] * int(value["size"])
        for i, v in zip(value["indices"], value["values"]):
            out[i] = v
        return out
    return list(value["values"])


def _input_columns(stage: Stage) -> list[str]:
    cols = stage.params.get("inputCols") or ([stage.params["inputCol"]] if stage.params.get("inputCol") else [])
    return list(cols)


def string_indexer_labels(stages: list[Stage]) -> dict[str, list[str]]:
    """Input column -> the labels a fitted StringIndexer knows, in index order."""
    out: dict[str, list[str]] = {}
    for stage in stages:
        if stage.kind != "StringIndexerModel":
            continue
        rows = _stage_data(stage)
        if not rows:
            continue
        labels_array = rows[0].get("labelsArray") or [rows[0].get("labels") or []]
        for column, labels in zip(_input_columns(stage), labels_array):
            out[column] = list(labels)
    return out


def class_labels(stages: list[Stage], input_names: list[str]) -> tuple[str, ...]:
    """Index -> label of a classifier: an IndexToString's labels, else the indexer on a non-input (label) column."""
    for stage in stages:
        if stage.kind == "IndexToString" and stage.params.get("labels"):
            return tuple(stage.params["labels"])
    for column, labels in string_indexer_labels(stages).items():
        if column not in input_names:
            return tuple(labels)
    return ()


def kmeans_centroids(stages: list[Stage]) -> pd.DataFrame:
    """KMeans centres in the units of the assembled features (a preceding StandardScaler is undone).

    One row per cluster (``cluster`` = the model's prediction), one column per assembled input.
    """
    kmeans = next((s for s in stages if s.kind == "KMeansModel"), None)
    if kmeans is None:
        return pd.DataFrame()
    rows = sorted(_stage_data(kmeans), key=lambda r: r["clusterIdx"])
    centres = [_vector(r["clusterCenter"]) for r in rows]
    features_col = kmeans.params.get("featuresCol", "features")
    names, centres = _unscale(stages, features_col, centres)
    frame = pd.DataFrame(centres, columns=names or [f"f{i}" for i in range(len(centres[0]) if centres else 0)])
    frame.insert(0, "cluster", [r["clusterIdx"] for r in rows])
    return frame


def _unscale(stages: list[Stage], column: str, centres: list[list[float]]) -> tuple[list[str] | None, list[list[float]]]:
    """Walk back from ``column`` through scalers to the VectorAssembler that built it."""
    by_output = {s.params.get("outputCol"): s for s in stages if s.params.get("outputCol")}
    stage = by_output.get(column)
    while stage is not None and stage.kind in ("StandardScalerModel", "MinMaxScalerModel"):
        data = _stage_data(stage)[0]
        if stage.kind == "StandardScalerModel":
            std = _vector(data["std"]) if stage.params.get("withStd", True) else None
            mean = _vector(data["mean"]) if stage.params.get("withMean", False) else None
            centres = [
                [c * (std[i] if std else 1.0) + (mean[i] if mean else 0.0) for i, c in enumerate(centre)]
                for centre in centres
            ]
        else:
            lo, hi = _vector(data["originalMin"]), _vector(data["originalMax"])
            mn, mx = stage.params.get("min", 0.0), stage.params.get("max", 1.0)
            centres = [
                [lo[i] + (c - mn) / (mx - mn) * (hi[i] - lo[i]) for i, c in enumerate(centre)] for centre in centres
            ]
        stage = by_output.get(stage.params.get("inputCol"))
    if stage is not None and stage.kind == "VectorAssembler":
        # Name the features after the raw columns an Imputer filled in (``avg_steps__imp`` -> ``avg_steps``).
        renamed = {}
        for s in stages:
            if s.kind == "ImputerModel":
                renamed.update(zip(s.params.get("outputCols", []), s.params.get("inputCols", [])))
        names = [renamed.get(c, c) for c in stage.params.get("inputCols", [])]
        if centres and len(names) == len(centres[0]):
            return names, centres
    return None, centres


def _read_mlmodel(model_dir: Path) -> dict:
    import yaml

    return yaml.safe_load((Path(model_dir) / "MLmodel").read_text())


def _input_example(model_dir: Path, mlmodel: dict) -> dict[str, Any]:
    """First row of the logged input example (``split`` or ``records`` orient), {} when none was logged."""
    info = mlmodel.get("saved_input_example_info") or {}
    path = Path(model_dir) / info.get("artifact_path", "input_example.json")
    if not path.is_file():
        return {}
    payload = json.loads(path.read_text())
    if isinstance(payload, dict) and "columns" in payload and payload.get("data"):
        return dict(zip(payload["columns"], payload["data"][0]))
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        return payload[0]
    return payload if isinstance(payload, dict) else {}


def model_card(champ: Champion, model_dir: Path) -> ModelCard:
    """Signature-driven inputs (categorical options only from what the fitted model knows) and stage metadata."""
    mlmodel = _read_mlmodel(model_dir)
    signature = mlmodel.get("signature") or {}
    specs = json.loads(signature.get("inputs") or "[]")
    outputs = [o.get("name") or "prediction" for o in json.loads(signature.get("outputs") or "[]")]
    stages = read_stages(model_dir)
    known = string_indexer_labels(stages)
    example = _input_example(model_dir, mlmodel)
    inputs = [
        InputSpec(
            name=s["name"],
            type=s["type"],
            required=s.get("required", True),
            options=tuple(known.get(s["name"], ())),
            default=example.get(s["name"]),
        )
        for s in specs
        if s.get("name")
    ]
    names = [i.name for i in inputs]
    return ModelCard(champ, Path(model_dir), tuple(mlmodel.get("flavors", {})), inputs, outputs, stages,
                     class_labels(stages, names))


def input_frame(card: ModelCard, values: dict[str, Any]) -> pd.DataFrame:
    """One input row typed as the signature says (int32 for "integer", int64 for "long", ...)."""
    dtypes = {"integer": "int32", "long": "int64", "float": "float32", "double": "float64", "boolean": "bool"}
    frame = pd.DataFrame([{i.name: values.get(i.name, i.default) for i in card.inputs}])
    return frame.astype({i.name: dtypes[i.type] for i in card.inputs if i.type in dtypes})


def load_predictor(settings: Settings, card: ModelCard):
    """The pyfunc model; a Spark-flavoured one gets fitlake's local session first (started here, once)."""
    import mlflow.pyfunc

    if "spark" in card.flavors:
        from fitlake.spark import get_spark

        get_spark(settings, app_name="fitlake-dashboard", conf={"spark.sql.shuffle.partitions": "1"})
    return mlflow.pyfunc.load_model(str(card.model_dir))


def predict(card: ModelCard, model, values: dict[str, Any]) -> Any:
    """One prediction; a classifier's index is mapped back to its label."""
    result = model.predict(input_frame(card, values))
    if isinstance(result, pd.DataFrame):
        value = result.iloc[0, 0]
    elif isinstance(result, pd.Series):
        value = result.iloc[0]
    else:
        value = list(result)[0]
    if card.class_labels and isinstance(value, (int, float)) and not isinstance(value, bool):
        index = int(value)
        return card.class_labels[index] if 0 <= index < len(card.class_labels) else f"(unknown class {index})"
    return value


_K_IN_NAME = re.compile(r"silhouette\D*?(\d+)$|^k_?(\d+)\D*silhouette", re.IGNORECASE)


def silhouette_curve(settings: Settings, run_id: str | None) -> pd.DataFrame:
    """(k, silhouette) the training run tried, from whichever way it was logged.

    A ``silhouette`` metric history with step = k; metrics named like ``silhouette_k4``; or child runs
    (``mlflow.parentRunId``) each with a ``k`` param and a silhouette metric.
    """
    empty = pd.DataFrame(columns=["k", "silhouette"])
    if not run_id:
        return empty
    mlc = client(settings)
    run = mlc.get_run(run_id)
    for key in run.data.metrics:
        if "silhouette" in key.lower() and not _K_IN_NAME.search(key):
            history = mlc.get_metric_history(run_id, key)
            points = {m.step: m.value for m in history}
            if len(points) > 1:
                return pd.DataFrame(sorted(points.items()), columns=["k", "silhouette"])
    named = []
    for key, value in run.data.metrics.items():
        match = _K_IN_NAME.search(key)
        if match:
            named.append((int(match.group(1) or match.group(2)), value))
    if len(named) > 1:
        return pd.DataFrame(sorted(named), columns=["k", "silhouette"])
    children = mlc.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'", max_results=200
    )
    points = []
    for child in children:
        k = child.data.params.get("k")
        value = next((v for m, v in child.data.metrics.items() if "silhouette" in m.lower()), None)
        if k is not None and value is not None:
            points.append((int(k), value))
    return pd.DataFrame(sorted(points), columns=["k", "silhouette"]) if points else empty
