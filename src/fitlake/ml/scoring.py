"""Batch scoring: the ``@champion`` of each model writes its gold table incrementally.

- ``gold.predicted_calories`` and ``gold.predicted_activity_type``: only rows that are new or changed in silver since
  they were last scored, or that were scored by an older champion, are scored; MERGE on their keys.
- ``gold.user_personas`` and ``gold.activity_recommendations``: a user's features span their whole history, so
  every user is re-scored (cheap: one row per user) and a keyed MERGE rewrites only the rows whose result changed.
Reruns without new data or a new champion write nothing; a killed run is completed by the next one.
"""

from __future__ import annotations

import sys

from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType, DoubleType, IntegerType, LongType, StringType, StructField, StructType, TimestampType,
)

from fitlake import delta_io
from fitlake import config
from fitlake.config import Settings
from fitlake.ml import models as mdl
from fitlake.ml import monitoring, tracking
from fitlake.ml import features as fx
from fitlake.ml.data import Skip, lineage_time, persona_inputs, read_optional, read_required
from fitlake.ml.features import top_k_per_user
from fitlake.ml.train import CALORIES_SOURCES, CALORIES_SPECS, TOP_K, calories_frame

_TYPES = {"BIGINT": LongType(), "INT": IntegerType(), "STRING": StringType(), "DOUBLE": DoubleType(),
          "DATE": DateType(), "TIMESTAMP": TimestampType()}


def _schema(columns: str) -> StructType:
    """A StructType from "name TYPE, ..." without a Spark session (StructType.fromDDL needs one)."""
    return StructType([StructField(n, _TYPES[t]) for n, t in (c.split() for c in columns.split(","))])


PERSONAS_SCHEMA = _schema(
    "user_id BIGINT, persona_id INT, persona_name STRING, model_name STRING, model_version STRING, "
    "_scored_at TIMESTAMP")
CALORIES_SCHEMA = _schema(
    "source STRING, user_id BIGINT, date DATE, actual_calories DOUBLE, predicted_calories DOUBLE, residual DOUBLE, "
    "model_name STRING, model_version STRING, _input_updated_at TIMESTAMP, _scored_at TIMESTAMP")
ACTIVITY_TYPE_SCHEMA = _schema(
    "user_id BIGINT, date DATE, actual_activity_type STRING, predicted_activity_type STRING, probability DOUBLE, "
    "model_name STRING, model_version STRING, _input_updated_at TIMESTAMP, _scored_at TIMESTAMP")
RECOMMENDATIONS_SCHEMA = _schema(
    "user_id BIGINT, rank INT, activity_type STRING, score DOUBLE, model_name STRING, model_version STRING, "
    "_scored_at TIMESTAMP")


def _champion(settings: Settings, model_key: str) -> tuple[str, object]:
    version = tracking.champion_version(settings, model_key)
    if version is None:
        raise Skip(f"{settings.model_name(model_key)} has no @{tracking.ALIAS} yet; run `fitlake train` first")
    return version, tracking.load_model(settings, f"models:/{settings.model_name(model_key)}/{version}")


def _with_model(df: DataFrame, settings: Settings, model_key: str, version: str) -> DataFrame:
    return df.withColumns({"model_name": F.lit(settings.model_name(model_key)), "model_version": F.lit(version),
                           "_scored_at": F.current_timestamp()})


def merge_changed(spark, settings: Settings, name: str, schema: StructType, rows: DataFrame, keys: list[str],
                  compare: list[str]) -> dict:
    """Upsert ``rows`` into gold.``name`` on ``keys``, rewriting a matched row only when a ``compare`` column
    changed, so a rerun with the same results is a no-op."""
    ref = settings.table("gold", name)
    rows = rows.select(*[F.col(f.name).cast(f.dataType.simpleString()) for f in schema.fields])
    if not delta_io.exists(spark, ref):  # the first scoring: the table created with its rows, one commit, no MERGE
        return {"inserted": delta_io.create_from(rows, ref), "updated": 0}
    changed = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in compare)
    result = (delta_io.delta_table(spark, ref).alias("t")
              .merge(rows.alias("s"), " AND ".join(f"t.{k} <=> s.{k}" for k in keys))
              .whenMatchedUpdateAll(condition=changed)
              .whenNotMatchedInsertAll()
              .execute()
              .first())  # Delta returns this MERGE's own counts (history(1) may be an earlier commit)
    return {"inserted": int(result["num_inserted_rows"]), "updated": int(result["num_updated_rows"])}


class _Monitor:
    """One model's monitoring in one scoring run: the drift of the rows it scores is measured before they are
    merged (the merge makes them "already scored"), the rolling error after (it reads the merged gold table).
    ``scored`` is the caller's, cached by it for the merge that follows (one computation of the scored rows)."""

    def __init__(self, spark, settings: Settings, model_key: str, version: str, scored: DataFrame,
                 id_cols: list[str]):
        self.spark, self.settings, self.model_key, self.version = spark, settings, model_key, version
        self.baseline = monitoring.load_baseline(settings, model_key, version)
        self.rows: list[dict] = []
        self.batch = None
        if self.baseline is None:
            return
        n, batch = monitoring.batch_size_and_id(settings.model_name(model_key), version, scored, id_cols)
        if n == 0:  # nothing new scored: nothing to monitor (a rerun records nothing)
            return
        self.batch = batch
        if n >= config.MONITOR_MIN_ROWS:
            self.rows = monitoring.drift_rows(spark, scored, self.baseline)

    def finish(self, predictions: DataFrame | None = None, error=None) -> dict:
        if self.baseline is None:
            return {"monitoring": "no training baseline (a version trained before monitoring); retrain to monitor",
                    "retrain_due": False}
        if self.batch is None:
            return {"monitoring": "nothing new scored", "retrain_due": False}
        if predictions is not None:
            row = monitoring.error_row(self.baseline, monitoring.rolling_error(predictions, error))
            self.rows += [row] if row else []
        result = monitoring.record_model_monitoring(self.spark, self.settings, self.model_key, self.version, self.batch, self.rows)
        return {"monitoring": f"{len(self.rows)} metrics, batch {self.batch}", "retrain_due": result["retrain_due"],
                "retrain_reasons": result["reasons"]}


def _mine(spark, settings: Settings, table: str, model_key: str, version: str, actual: str) -> DataFrame:
    """Rows of a prediction table scored by this model version that have an actual."""
    df = delta_io.read(spark, settings.table("gold", table))
    return df.where((F.col("model_name") == settings.model_name(model_key)) & (F.col("model_version") == version)
                    & F.col(actual).isNotNull())


def score_personas(spark, settings: Settings) -> dict:
    version, model = _champion(settings, "personas")
    users = persona_inputs(spark, settings)
    imputer = next(s for s in model.stages if type(s).__name__ == "ImputerModel")
    missing = [c for c in imputer.getInputCols() if c not in users.columns]
    users = users.withColumns({c: F.lit(None).cast("double") for c in missing})  # imputed like unseen values
    names = F.array(*[F.lit(n) for n in mdl.persona_model_names(model)])
    predicted = model.transform(users).cache()
    try:
        monitor = _Monitor(spark, settings, "personas", version, predicted, ["user_id", *imputer.getInputCols()])
        scored = predicted.select(
            "user_id", F.col("prediction").cast("int").alias("persona_id"),
            F.element_at(names, F.col("prediction").cast("int") + 1).alias("persona_name"))
        out = _with_model(scored, settings, "personas", version)
        merged = merge_changed(spark, settings, "user_personas", PERSONAS_SCHEMA, out, ["user_id"],
                               ["persona_id", "persona_name", "model_version"])
    finally:
        predicted.unpersist()
    return {"table": "gold.user_personas", "version": version, **merged, **monitor.finish()}


def not_yet_scored(frame: DataFrame, scored: DataFrame | None, version: str, source: str | None = None) -> DataFrame:
    """Rows of ``frame`` (keyed by user_id, date) not yet scored by this champion version at their current silver
    timestamp; ``source`` narrows a table shared by several models (predicted_calories)."""
    rows = lineage_time(frame)
    if source is not None:
        rows = rows.withColumn("source", F.lit(source))
    if scored is None:
        return rows
    mine = scored.where(F.col("model_version") == version)
    if source is not None:
        mine = mine.where(F.col("source") == source)
    done = mine.select("user_id", "date", F.col("_input_updated_at").alias("_done_at"))
    return rows.join(done, ["user_id", "date"], "left").where(
        ~F.col("_done_at").eqNullSafe(F.col("_input_updated_at"))).drop("_done_at")


def score_calories(spark, settings: Settings, source: str) -> dict:
    spec = CALORIES_SPECS[source]
    version, model = _champion(settings, spec.model_key)
    frame = calories_frame(spark, settings, source)
    todo = not_yet_scored(frame, read_optional(spark, settings, "gold", "predicted_calories"), version, source)
    predicted = model.transform(todo).cache()
    try:
        monitor = _Monitor(spark, settings, spec.model_key, version, predicted,
                           ["user_id", "date", "_input_updated_at"])
        out = predicted.select(
            "source", "user_id", "date", F.col(spec.label).cast("double").alias("actual_calories"),
            F.col("prediction").alias("predicted_calories"),
            (F.col(spec.label) - F.col("prediction")).alias("residual"), "_input_updated_at")
        out = _with_model(out, settings, spec.model_key, version)
        merged = merge_changed(spark, settings, "predicted_calories", CALORIES_SCHEMA, out,
                               ["source", "user_id", "date"],
                               ["predicted_calories", "actual_calories", "model_version", "_input_updated_at"])
    finally:
        predicted.unpersist()
    mine = _mine(spark, settings, "predicted_calories", spec.model_key, version, "actual_calories")
    return {"table": f"gold.predicted_calories ({source})", "version": version, **merged,
            **monitor.finish(mine.where(F.col("source") == source), F.abs(F.col("residual")))}


def score_activity_type(spark, settings: Settings) -> dict:
    version, model = _champion(settings, "activity")
    frame = fx.activity_features(read_required(spark, settings, "silver", "activity", "activity"))
    todo = not_yet_scored(frame, read_optional(spark, settings, "gold", "predicted_activity_type"), version)
    predicted = model.transform(todo).cache()
    try:
        monitor = _Monitor(spark, settings, "activity", version, predicted, ["user_id", "date", "_input_updated_at"])
        out = predicted.select(
            "user_id", "date", F.col("activity_type").alias("actual_activity_type"), "predicted_activity_type",
            F.array_max(vector_to_array("probability")).alias("probability"), "_input_updated_at")
        out = _with_model(out, settings, "activity", version)
        merged = merge_changed(spark, settings, "predicted_activity_type", ACTIVITY_TYPE_SCHEMA, out,
                               ["user_id", "date"],
                               ["predicted_activity_type", "actual_activity_type", "model_version",
                                "_input_updated_at"])
    finally:
        predicted.unpersist()
    mine = _mine(spark, settings, "predicted_activity_type", "activity", version, "actual_activity_type")
    wrong = (F.col("predicted_activity_type") != F.col("actual_activity_type")).cast("double")
    return {"table": "gold.predicted_activity_type", "version": version, **merged, **monitor.finish(mine, wrong)}


def score_recommendations(spark, settings: Settings) -> dict:
    version, model = _champion(settings, "recommend")
    users = read_required(spark, settings, "silver", "activity", "recommend").select("user_id").distinct()
    top = mdl.score_all_items(model, users).transform(top_k_per_user(TOP_K))
    out = _with_model(top, settings, "recommend", version)
    return {"table": "gold.activity_recommendations", "version": version,
            **merge_changed(spark, settings, "activity_recommendations", RECOMMENDATIONS_SCHEMA, out,
                            ["user_id", "rank"], ["activity_type", "model_version"])}


def score(spark, settings: Settings) -> list[dict]:
    """Score every model that has a champion; models without one are skipped with the reason.

    Models that write different tables are scored side by side (up to ``settings.parallel_tables``, each thread in a
    session of its own, ``fitlake.concurrency``): a model's scoring is mostly fixed cost (loading the model, Delta
    snapshots, planning, a commit) that leaves a core idle. The calories models share gold.predicted_calories, so
    they run one after the other in one thread. When gold.model_monitoring does not exist yet (its first writer
    creates it), everything runs in order."""
    from fitlake.concurrency import run_concurrently, thread_session

    def session():
        return thread_session(spark)

    def say(line: str) -> None:  # one write per line: threads' lines never interleave
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    groups = [[("personas", lambda: score_personas(session(), settings))],
              [("activity", lambda: score_activity_type(session(), settings))],
              [(CALORIES_SPECS[s].model_key, lambda s=s: score_calories(session(), settings, s))
               for s in CALORIES_SOURCES],
              [("recommend", lambda: score_recommendations(session(), settings))]]

    def run_group(group) -> list[dict]:
        results = []
        for name, job in group:
            try:
                r = {"model": name, "status": "scored", **job()}
                say(f"fitlake score: {name}: v{r['version']} -> {r['table']}: {r['inserted']} inserted, "
                    f"{r['updated']} updated")
                if r.get("retrain_due"):
                    say(f"fitlake score: {name}: retrain due — {'; '.join(r['retrain_reasons'])} "
                        "(gold.model_monitoring; run `fitlake train --model ...`)")
            except Skip as e:
                r = {"model": name, "status": "skipped", "reason": str(e)}
                say(f"fitlake score: {name}: skipped — {e}")
            results.append(r)
        return results

    workers = settings.parallel_tables if delta_io.exists(spark, settings.table("gold", "model_monitoring")) else 1
    return [r for group in run_concurrently(groups, run_group, workers) for r in group]
