"""MLflow at the edge: one experiment per model, params/metrics/plots/model per run, registry + ``champion`` alias.

The alias moves only when the new version is strictly better than the champion *on the same test data*: every
version carries the fingerprint of the test set it was scored on; when the champion's fingerprint differs (new data
arrived), the champion is re-scored on the new test set before comparing. So a rerun on unchanged data, whose
fingerprint and metric are unchanged, never moves the alias.

Every version also carries the fingerprint of its whole input (data + training code): a rerun whose inputs match
a registered version's does not train or register anything (``trained_on``), so retraining is idempotent.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Callable

from fitlake.config import Settings
from fitlake.ml import lineage

ALIAS = "champion"
INPUT_TAG = "input_fingerprint"
MIN_DELTA = 1e-9  # "strictly better" beyond float noise of a refit on the same data

log = logging.getLogger(__name__)


def configure(settings: Settings) -> None:
    """Point MLflow at the lakehouse's SQLite store locally (Databricks tracking and Unity Catalog remotely)."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if settings.is_local:
        settings.root.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_registry_uri)
    if not settings.is_local:  # mlflow.spark.load_model (scoring, pyfunc) reads MLFLOW_DFS_TMP too
        os.environ["MLFLOW_DFS_TMP"] = dfs_tmpdir(settings)


def start_spark(settings: Settings, app_name: str):
    """The session of `fitlake train` / `fitlake score`: MLflow warmed up (``warm_up``) while the JVM starts; when
    the inputs are small, plans interpreted and the JIT stopped at C1 (``spark.small_input_options`` over
    ``freshness.input_bytes``), as `fitlake run` does."""
    from fitlake.ml import freshness
    from fitlake.spark import get_spark, small_input_options

    warm = warm_up(settings)
    conf, jit = small_input_options(settings, freshness.input_bytes(settings))
    spark = get_spark(settings, app_name=app_name, conf=conf, jit=jit)
    warm.join()
    return spark


def warm_up(settings: Settings) -> threading.Thread:
    """Import MLflow and open (on an empty lakehouse: create and migrate) its store in a thread, while the caller
    starts the JVM: both are seconds of mostly one core each (MLflow's migrations of a new SQLite store: 10 s of a
    `fitlake train` on the real export under load). Errors are left to the first real MLflow call."""

    def run() -> None:
        try:
            from mlflow import MlflowClient

            configure(settings)
            MlflowClient().search_registered_models(max_results=1)
        except Exception as e:  # noqa: BLE001 - the real call reports it
            log.debug("MLflow warm-up failed: %s", e)

    thread = threading.Thread(target=run, name="fitlake-mlflow-warm-up", daemon=True)
    thread.start()
    return thread


def dfs_tmpdir(settings: Settings) -> str:
    """Where Spark writes a model before MLflow uploads it (and reads it back when loading): a local temp folder
    locally; on Databricks a folder on the state Volume, never the DBFS root (which workspaces often disable)."""
    if settings.is_local:
        return str(settings.root / "_mlflow_dfs_tmp")
    return f"/Volumes/{settings.catalog}/{settings.schema}/state/_mlflow_dfs_tmp"


def ensure_experiment(settings: Settings, model_key: str) -> str:
    import mlflow

    name = settings.experiment_name(model_key)
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        return mlflow.create_experiment(name, artifact_location=settings.mlflow_artifact_location)
    return exp.experiment_id


def is_better(new: float, old: float | None, higher_is_better: bool, min_delta: float = MIN_DELTA) -> bool:
    """Strictly better by more than ``min_delta``; anything beats a missing or NaN champion metric."""
    if old is None or math.isnan(old):
        return not math.isnan(new)
    if math.isnan(new):
        return False
    return new > old + min_delta if higher_is_better else new < old - min_delta


@dataclass
class Decision:
    promoted: bool
    reason: str
    champion_version: str | None = None
    champion_metric: float | None = None


def decide_and_set_alias(client, name: str, version: str, metric: float, fingerprint: str, higher_is_better: bool,
                         rescore_champion: Callable[[str], float] | None = None) -> Decision:
    """Give ``version`` the champion alias if there is none yet or if it beats the champion on this test data."""
    from mlflow.exceptions import MlflowException

    try:
        champion = client.get_model_version_by_alias(name, ALIAS)
    except MlflowException:
        champion = None
    if champion is None:
        client.set_registered_model_alias(name, ALIAS, version)
        return Decision(True, "first registered version")
    if str(champion.version) == str(version):
        return Decision(False, "already champion", str(champion.version), metric)
    old: float | None
    if champion.tags.get("test_fingerprint") == fingerprint and "primary_metric" in champion.tags:
        old = float(champion.tags["primary_metric"])
        how = "its logged metric on the same test set"
    elif rescore_champion is not None:
        try:
            old = float(rescore_champion(f"models:/{name}/{champion.version}"))
            how = "re-scored on the new test set"
        except Exception as e:  # an unloadable or incompatible champion must not block training
            log.warning("could not re-score champion %s v%s: %s", name, champion.version, e)
            old, how = None, f"champion could not be re-scored ({type(e).__name__})"
    else:
        old, how = None, "champion was scored on other test data"
    if is_better(metric, old, higher_is_better):
        client.set_registered_model_alias(name, ALIAS, version)
        return Decision(True, f"beat champion v{champion.version} ({how}: {old})", str(champion.version), old)
    return Decision(False, f"did not beat champion v{champion.version} ({how}: {old})", str(champion.version), old)


@dataclass
class RunRecord:
    """Everything one training run logs."""

    model_key: str
    params: dict
    metrics: dict[str, float]
    primary_metric: str
    higher_is_better: bool
    fingerprint: str
    figures: dict = field(default_factory=dict)  # artifact file name -> matplotlib Figure
    texts: dict = field(default_factory=dict)  # artifact file name -> text (json, csv)
    experiment: str | None = None  # experiment key when several registered models share one (calories sources)
    input_fingerprint: str | None = None  # the whole input (data + code) this version was fitted on
    # logical table -> (DataFrame, lineage.TableInput); None: the tables the trainer read (lineage.recording)
    inputs: dict | None = None


def log_and_register(settings: Settings, record: RunRecord, model, input_example, output_example,
                     rescore_champion: Callable[[str], float] | None = None) -> dict:
    """Log one run with its fitted pipeline, register it and apply the champion rule; returns a summary."""
    import mlflow
    import mlflow.spark
    import pyspark
    from mlflow import MlflowClient
    from mlflow.models import Model, infer_signature

    configure(settings)
    experiment_id = ensure_experiment(settings, record.experiment or record.model_key)
    name = settings.model_name(record.model_key)
    inputs = lineage.current_reads() if record.inputs is None else record.inputs
    with mlflow.start_run(experiment_id=experiment_id) as run:
        params = {k: str(v)[:500] for k, v in record.params.items()}
        mlflow.log_params(params)
        mlflow.set_tags({"primary_metric": record.primary_metric, "test_fingerprint": record.fingerprint})
        # every input table at the Delta version read, and the held-out split the metrics were computed on
        evaluation = None
        for i, (df, table) in enumerate(inputs.values()):
            mlflow.log_input(lineage.mlflow_dataset(df, table), context="training",
                             tags={"delta_version": str(table.version), "table": table.logical})
            if i == 0:
                evaluation = lineage.mlflow_dataset(df, table, digest=record.fingerprint[:36],
                                                    name=f"{table.full_name} (held-out split)")
                mlflow.log_input(evaluation, context="evaluation",
                                 tags={"delta_version": str(table.version), "table": table.logical})
        for file_name, fig in record.figures.items():
            mlflow.log_figure(fig, file_name)
        for file_name, text in record.texts.items():
            mlflow.log_text(text, file_name)
        info = Model.log(  # the MLflow 3 form (mlflow.spark.log_model still only takes artifact_path)
            artifact_path=None, name="model", flavor=mlflow.spark, spark_model=model, params=params, model_type=record.model_key,
            signature=infer_signature(input_example, output_example), input_example=input_example,
            pip_requirements=[f"pyspark=={pyspark.__version__}", f"mlflow=={mlflow.__version__}"],
            dfs_tmpdir=dfs_tmpdir(settings),
            # MLflow would load the logged model back through pyfunc and predict the input example (11 s of two
            # models' logging on the real export); output_example above is that prediction, by the same model
            validate_serving_input=False,
        )
        # metrics belong to the logged model (MLflow 3 LoggedModel) and to the data they were measured on
        mlflow.log_metrics({k: float(v) for k, v in record.metrics.items() if v is not None and not math.isnan(v)},
                           model_id=info.model_id, dataset=evaluation)
        mv = mlflow.register_model(info.model_uri, name)
    client = MlflowClient()
    primary = record.metrics[record.primary_metric]
    for key, value in {"test_fingerprint": record.fingerprint, "primary_metric": repr(float(primary)),
                       "primary_metric_name": record.primary_metric, "run_id": run.info.run_id,
                       "model_id": info.model_id,
                       **{table.tag_key(): table.location for _, table in inputs.values()},
                       **({INPUT_TAG: record.input_fingerprint} if record.input_fingerprint else {})}.items():
        client.set_model_version_tag(name, mv.version, key, value)
    decision = decide_and_set_alias(client, name, mv.version, primary, record.fingerprint, record.higher_is_better,
                                    rescore_champion)
    return {"model": record.model_key, "status": "trained", "registered_model": name, "version": str(mv.version),
            "run_id": run.info.run_id, "metrics": record.metrics, "promoted": decision.promoted,
            "reason": decision.reason}


def trained_on(settings: Settings, model_key: str, input_fingerprint: str) -> dict | None:
    """The summary of an "unchanged" rerun when a registered version was already fitted on exactly these inputs
    (the newest such version), else None."""
    from mlflow import MlflowClient

    configure(settings)
    client, name = MlflowClient(), settings.model_name(model_key)
    version = None
    for v in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: -int(v.version)):
        tags = v.tags or client.get_model_version(name, v.version).tags  # Unity Catalog's search omits tags
        if tags.get(INPUT_TAG) == input_fingerprint:
            version = str(v.version)
            break
    if version is None:
        return None
    champion = champion_version(settings, model_key)
    return {"model": model_key, "status": "unchanged", "registered_model": name, "version": version,
            "champion_version": champion,
            "reason": f"v{version} was trained on these same inputs (champion: v{champion}); "
                      "nothing new to learn, nothing registered (--force retrains)"}


def champion_version(settings: Settings, model_key: str) -> str | None:
    """Version currently holding the champion alias, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(settings)
    try:
        return str(MlflowClient().get_model_version_by_alias(settings.model_name(model_key), ALIAS).version)
    except MlflowException:
        return None


def load_model(settings: Settings, model_uri: str):
    """Load a registered Spark pipeline (``models:/<name>/<version>``).

    Locally the version's files are downloaded once into ``<root>/_mlcache`` and loaded from there (versions are
    immutable; Spark reads some model data, e.g. ALS factors, lazily, so the files must outlive this call)."""
    import mlflow
    import mlflow.spark

    configure(settings)
    if not settings.is_local:
        return mlflow.spark.load_model(model_uri, dfs_tmpdir=dfs_tmpdir(settings))
    from pyspark.ml import PipelineModel

    return PipelineModel.load(str(local_model_dir(settings, model_uri) / "sparkml"))


def local_model_dir(settings: Settings, model_uri: str):
    """Local lakehouses: the MLflow model folder of a registered version (``MLmodel``, ``sparkml/``), downloaded
    once into ``<root>/_mlcache`` (versions are immutable; an alias is resolved to its version first)."""
    import mlflow
    from mlflow import MlflowClient

    configure(settings)
    if "@" in model_uri:  # cache by immutable version, never by a movable alias
        name, alias = model_uri.removeprefix("models:/").split("@", 1)
        model_uri = f"models:/{name}/{MlflowClient().get_model_version_by_alias(name, alias).version}"
    dst = settings.root / "_mlcache" / model_uri.removeprefix("models:/").replace("/", "_").replace("@", "_")
    if not (dst / "sparkml" / "metadata").is_dir():
        dst.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dst))
    return dst
