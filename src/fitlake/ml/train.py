"""Train the four models from the lakehouse tables; each trainer reads, splits, fits, evaluates beside its baseline
and hands the run to ``tracking``. A model whose inputs are missing is skipped with a message, not an error; a
model whose inputs (data and training code) match a registered version's is left as it is."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import MapType

from fitlake.config import Settings
from fitlake.frames import pandas_frame
from fitlake.ml import features as fx
from fitlake.ml import models as mdl
from fitlake.ml import lineage, monitoring, plots, tracking
from fitlake.ml.data import Skip, fingerprint, non_null_columns, persona_inputs, read_required
from fitlake.ml.splits import NotEnoughData, split_by_time, split_by_user, time_cutoff

log = logging.getLogger(__name__)

MODELS = ("personas", "activity", "calories", "recommend")
CALORIES_SOURCES = ("activity", "fitbit")
# What a user does, not what their body or device is: calories follow body weight, wear share and sleep efficiency
# are near-constant device/physiology traits, and z-scoring a near-constant column turns its noise into a full
# dimension that blurs the behavioural groups.
PERSONA_FEATURES = (
    "avg_steps", "avg_active_minutes", "avg_sedentary_minutes", "avg_minutes_asleep",
    *[f"share_{t}" for t in fx.ACTIVITY_TYPES],
)
TOP_K = 3

CALORIES_SPECS = {
    "activity": mdl.CaloriesSpec("activity", "calories_burned", fx.CALORIES_ACTIVITY_NUMERIC,
                                 fx.CALORIES_ACTIVITY_CATEGORICAL),
    "fitbit": mdl.CaloriesSpec("fitbit", "calories", fx.CALORIES_FITBIT_NUMERIC, fx.CALORIES_FITBIT_CATEGORICAL),
}


def _skipped(model: str, reason: str) -> dict:
    print(f"fitlake train: {model}: skipped — {reason}")
    return {"model": model, "status": "skipped", "reason": reason}


def _example(df: DataFrame, cols: list[str], n: int = 5):
    return df.select(*cols).limit(n).toPandas()


def _example_frame(spark, example, df: DataFrame) -> DataFrame:
    """The input example (pandas) back in Spark with ``df``'s types, for the model's output on it."""
    return pandas_frame(spark, example, df.select(*example.columns).schema)


def _code_identity() -> str:
    """The training code itself: a change to the features, models or splits retrains even on unchanged data."""
    digest = hashlib.sha256()
    for name in ("train.py", "models.py", "features.py", "splits.py", "data.py"):
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()[:16]


def already_trained(settings: Settings, model_key: str, inputs: DataFrame, definition: dict,
                    force: bool = False) -> tuple[str, dict | None]:
    """The fingerprint of a trainer's whole input, and the "unchanged" summary when a registered version was
    fitted on exactly that input (None with ``force``): refitting it would only register a copy."""
    cols = [f.name for f in inputs.schema.fields if not isinstance(f.dataType, MapType)]
    fp = fingerprint(inputs, cols, {**definition, "model": model_key, "code": _code_identity()})
    done = None if force else tracking.trained_on(settings, model_key, fp)
    if done:
        print(f"fitlake train: {model_key}: unchanged — {done['reason']}")
    return fp, done


# --- personas ----------------------------------------------------------------------------------------------------

def latent_personas(settings: Settings) -> dict[str, str]:
    """user_id -> latent persona from a generated landing's ``_manifest.json`` ({} for real data)."""
    path = settings.landing_dir / "_manifest.json"
    try:
        return dict(json.loads(path.read_text()).get("personas", {}).get("by_user", {}))
    except (OSError, ValueError):
        return {}


@lineage.records
def train_personas(spark, settings: Settings, k_max: int = 8, force: bool = False) -> dict:
    users = persona_inputs(spark, settings).cache()
    try:
        input_fp, done = already_trained(settings, "personas", users, {"k_max": k_max}, force)
        if done:
            return done
        feats = non_null_columns(users, PERSONA_FEATURES)
        train, test = split_by_user(users)  # filters over the cached users
        n_train, n_test = train.count(), test.count()
        if n_train < 4:
            raise NotEnoughData(f"{n_train} training users; KMeans over k>=2 needs at least 4")
        ks = range(2, min(k_max, n_train - 1) + 1)
        fit = mdl.fit_personas(train, feats, ks)
        # Few held-out users (a 33-user export) cannot carry a silhouette: then evaluate on the training users.
        eval_on = test if n_test > fit.k else train
        scores = mdl.persona_silhouettes(fit.model, eval_on)
        names = mdl.persona_model_names(fit.model)
        metrics = {**scores, "k": fit.k, "train_silhouette": fit.silhouette_by_k[fit.k],
                   **{f"silhouette_k{k}": v for k, v in fit.silhouette_by_k.items()},
                   **{f"stability_k{k}": v for k, v in fit.stability_by_k.items()}}
        latent = latent_personas(settings)
        if latent:  # generated data: how well the segmentation recovers the generator's personas
            assigned = {r["user_id"]: r["prediction"]
                        for r in fit.model.transform(users).select("user_id", "prediction").collect()}
            known = sorted(u for u in assigned if str(u) in latent)
            if known:
                metrics["latent_persona_ari"] = mdl.adjusted_rand_index([latent[str(u)] for u in known],
                                                                        [assigned[u] for u in known])
        cols = ["user_id", *feats]
        record = tracking.RunRecord(
            "personas",
            params={"features": ",".join(feats), "k_range": f"{ks.start}..{ks.stop - 1}", "chosen_k": fit.k,
                    "split": "by user (hash of user_id), 25% held out", "train_users": n_train,
                    "test_users": n_test, "evaluated_on": "held-out users" if eval_on is test else "training users",
                    "scaler": "StandardScaler(withMean, withStd)",
                    "k_rule": f"largest k with resample stability (ARI) >= {mdl.STABLE}, else the most stable", "baseline": "random assignment, same k"},
            metrics=metrics, primary_metric="silhouette", higher_is_better=True,
            fingerprint=fingerprint(eval_on, cols, {"model": "personas", "features": feats}),
            input_fingerprint=input_fp,
            figures={"silhouette_curve.png": plots.silhouette_curve(fit.silhouette_by_k, fit.k)},
            texts={"personas.json": json.dumps(dict(enumerate(names)), indent=2),
                   monitoring.BASELINE_FILE: json.dumps(monitoring.training_baseline(
                       fit.model.transform(train), list(feats), "prediction", numeric_prediction=False))},
        )
        example = _example(eval_on, cols)
        output = fit.model.transform(_example_frame(spark, example, eval_on)).select("prediction").toPandas()
        return tracking.log_and_register(
            settings, record, fit.model, example, output,
            rescore_champion=lambda uri: mdl.persona_silhouettes(tracking.load_model(settings, uri),
                                                                 eval_on)["silhouette"])
    finally:
        users.unpersist()


# --- activity type -----------------------------------------------------------------------------------------------

def fit_activity_type(records: DataFrame) -> tuple:
    """Time split, fit, and accuracy / macro-F1 beside the majority class: the testable core of the trainer."""
    labelled = records.where(F.col("activity_type").isNotNull())
    cutoff = time_cutoff(labelled)
    train, test = split_by_time(labelled, cutoff)
    numeric = non_null_columns(train, fx.ACTIVITY_NUMERIC)
    indexer = mdl.fit_label_indexer(train)
    labels = list(indexer.labels)
    model = mdl.activity_type_pipeline(labels, numeric).fit(indexer.transform(train))

    def evaluate(m) -> tuple[dict, dict]:
        confusion = mdl.confusion_counts(m.transform(test))
        return confusion, mdl.classification_metrics(confusion, baseline_class=labels[0])

    confusion, metrics = evaluate(model)
    if not metrics:
        raise NotEnoughData("no labelled test rows after the time split")
    return model, cutoff, numeric, labels, train, test, confusion, metrics, evaluate


@lineage.records
def train_activity_type(spark, settings: Settings, force: bool = False) -> dict:
    records = fx.activity_features(read_required(spark, settings, "silver", "activity", "activity")).cache()
    try:
        input_fp, done = already_trained(settings, "activity", records, {}, force)
        if done:
            return done
        model, cutoff, numeric, labels, train, test, confusion, metrics, evaluate = fit_activity_type(records)
        cols = ["user_id", "activity_type", *numeric, "day_of_week"]
        classes = sorted({*labels, *(t for t, _ in confusion), *(p for _, p in confusion)})
        record = tracking.RunRecord(
            "activity",
            params={"split": "by time: first 75% of days train", "cutoff_date": cutoff, "features": ",".join(numeric),
                    "categorical": "day_of_week", "classes": ",".join(labels), "baseline": f"majority: {labels[0]}",
                    "train_rows": train.count(), "test_rows": sum(confusion.values())},
            metrics=metrics, primary_metric="macro_f1", higher_is_better=True,
            fingerprint=fingerprint(test, cols, {"model": "activity", "cutoff": cutoff}),
            input_fingerprint=input_fp,
            figures={"confusion_matrix.png": plots.confusion_matrix(confusion, classes)},
            texts={"confusion_matrix.json": json.dumps([[t, p, n] for (t, p), n in sorted(confusion.items())]),
                   monitoring.BASELINE_FILE: json.dumps(monitoring.training_baseline(
                       model.transform(train), list(numeric), "predicted_activity_type", numeric_prediction=False,
                       error_metric="error_rate", training_error=1.0 - metrics["accuracy"]))},
        )
        example = _example(test, [c for c in cols if c != "activity_type"])
        output = model.transform(_example_frame(spark, example, test)).select("predicted_activity_type").toPandas()
        return tracking.log_and_register(
            settings, record, model, example, output,
            rescore_champion=lambda uri: evaluate(tracking.load_model(settings, uri))[1]["macro_f1"])
    finally:
        records.unpersist()


# --- calories ----------------------------------------------------------------------------------------------------

def calories_frame(spark, settings: Settings, source: str) -> DataFrame:
    """Wear days of one source, with the columns its calories model reads (shared with scoring)."""
    if source == "activity":
        raw = read_required(spark, settings, "silver", "activity", "calories")
        return fx.activity_features(raw).transform(fx.filter_wear_days())
    raw = read_required(spark, settings, "silver", "daily_activity", "calories_fitbit")
    return fx.fitbit_daily_features(raw).transform(fx.filter_wear_days("total_steps"))


def fit_calories(frame: DataFrame, spec: mdl.CaloriesSpec) -> tuple:
    """Time split, fit, and metrics beside the training-mean baseline: the testable core of the calories trainer."""
    labelled = frame.where(F.col(spec.label).isNotNull())
    cutoff = time_cutoff(labelled)
    train, test = split_by_time(labelled, cutoff)
    numeric = non_null_columns(train, spec.numeric)
    spec = mdl.CaloriesSpec(spec.source, spec.label, numeric, spec.categorical)
    model = mdl.calories_pipeline(spec).fit(train)
    mean = train.agg(F.avg(spec.label)).first()[0]
    predictions = model.transform(test)
    metrics = mdl.regression_metrics(predictions, spec.label, mean)
    if not metrics:
        raise NotEnoughData("no test rows after the time split")
    return spec, model, cutoff, train, test, predictions, mean, metrics


@lineage.records
def train_calories_source(spark, settings: Settings, source: str, force: bool = False) -> dict:
    spec = CALORIES_SPECS[source]
    frame = calories_frame(spark, settings, source).cache()
    try:
        input_fp, done = already_trained(settings, spec.model_key, frame, {"source": source}, force)
        if done:
            return done
        spec, model, cutoff, train, test, predictions, mean, metrics = fit_calories(frame, spec)
        cols = ["user_id", *spec.numeric, *[c for c in spec.categorical if c != "user_id"]]
        sample = predictions.select("prediction", spec.label).limit(5000).toPandas()
        record = tracking.RunRecord(
            spec.model_key,
            params={"source": source, "label": spec.label, "split": "by time: first 75% of days train",
                    "cutoff_date": cutoff, "numeric": ",".join(spec.numeric),
                    "one_hot": ",".join(spec.categorical), "rows": "wear days only",
                    "baseline": f"training mean {mean:.1f}", "train_rows": train.count(),
                    "test_rows": test.count()},
            metrics=metrics, primary_metric="r2", higher_is_better=True, experiment="calories",
            fingerprint=fingerprint(test, ["user_id", "date", spec.label, *spec.numeric],
                                    {"model": spec.model_key, "cutoff": cutoff}),
            input_fingerprint=input_fp,
            figures={"residuals.png": plots.residuals(sample["prediction"].tolist(), sample[spec.label].tolist(),
                                                      f"calories ({source}): test residuals")},
            texts={monitoring.BASELINE_FILE: json.dumps(monitoring.training_baseline(
                model.transform(train), list(spec.numeric), "prediction", numeric_prediction=True,
                error_metric="mae", training_error=metrics["mae"]))},
        )
        example = _example(test, cols)
        output = model.transform(_example_frame(spark, example, test)).select("prediction").toPandas()
        return tracking.log_and_register(
            settings, record, model, example, output,
            rescore_champion=lambda uri: mdl.regression_metrics(
                tracking.load_model(settings, uri).transform(test), spec.label, mean)["r2"])
    finally:
        frame.unpersist()


def train_calories(spark, settings: Settings, source: str = "all", force: bool = False) -> list[dict]:
    sources = CALORIES_SOURCES if source == "all" else (source,)
    return [_guarded(CALORIES_SPECS[s].model_key, lambda s=s: train_calories_source(spark, settings, s, force))
            for s in sources]


# --- recommendations ---------------------------------------------------------------------------------------------

def fit_recommender(activity: DataFrame) -> tuple:
    """Time split of the activity records, ALS on training counts, precision@3 / MAP@3 beside most-popular."""
    acts = activity.where(F.col("activity_type").isNotNull() & F.col("user_id").isNotNull())
    cutoff = time_cutoff(acts)
    train, test = split_by_time(acts, cutoff)
    ratings = fx.interaction_counts(train).cache()
    model = mdl.recommender_pipeline().fit(ratings)
    popular = [r[0] for r in ratings.groupBy("activity_type").agg(F.sum("n").alias("n"))
               .orderBy(F.desc("n"), "activity_type").collect()]
    relevant = test.select("user_id", "activity_type").distinct().cache()

    def evaluate(m) -> dict:
        return mdl.ranking_metrics(mdl.score_all_items(m, relevant), relevant, popular, TOP_K)

    metrics = evaluate(model)
    if not metrics:
        raise NotEnoughData("no held-out user appears in the training period")
    return model, cutoff, ratings, relevant, popular, metrics, evaluate


@lineage.records
def train_recommender(spark, settings: Settings, force: bool = False) -> dict:
    activity = read_required(spark, settings, "silver", "activity", "recommend")
    input_fp, done = already_trained(settings, "recommend", activity, {"top_k": TOP_K}, force)
    if done:
        return done
    model, cutoff, ratings, relevant, popular, metrics, evaluate = fit_recommender(activity)
    try:
        als = model.stages[-1]
        record = tracking.RunRecord(
            "recommend",
            params={"split": "by time: interactions of the first 75% of days train, later ones are held out",
                    "cutoff_date": cutoff, "rating": "count of days per (user, activity_type), implicitPrefs=True",
                    "rank": als.rank, "k": TOP_K, "baseline": "most popular: " + ",".join(popular[:TOP_K]),
                    "users": len(model.stages[0].labelsArray[0]), "items": len(popular)},
            metrics=metrics, primary_metric="precision_at_k", higher_is_better=True,
            fingerprint=fingerprint(relevant, ["user_id", "activity_type"], {"model": "recommend", "cutoff": cutoff,
                                                                              "k": TOP_K}),
            input_fingerprint=input_fp,
            figures={"ranking.png": plots.bars(
                {"ALS": metrics["precision_at_k"], "most popular": metrics["baseline_precision_at_k"]},
                f"precision@{TOP_K} on held-out days", f"precision@{TOP_K}")},
        )
        example = _example(ratings, ["user_id", "activity_type"])
        output = model.transform(_example_frame(spark, example, ratings)).select("prediction").toPandas()
        return tracking.log_and_register(
            settings, record, model, example, output,
            rescore_champion=lambda uri: evaluate(tracking.load_model(settings, uri))["precision_at_k"])
    finally:
        ratings.unpersist()
        relevant.unpersist()


# --- all ---------------------------------------------------------------------------------------------------------

def _guarded(model: str, fn) -> dict:
    """Run one trainer; missing inputs or too little data become a 'skipped' result with the reason."""
    try:
        return fn()
    except (Skip, NotEnoughData) as e:
        return _skipped(model, str(e))


def train(spark, settings: Settings, model: str = "all", calories_source: str = "all", k_max: int = 8,
          force: bool = False) -> list[dict]:
    """Train ``model`` (or all four); returns one summary per registered model. ``force`` refits even when a
    registered version was trained on the same inputs."""
    chosen = MODELS if model == "all" else (model,)
    results: list[dict] = []
    for name in chosen:
        if name == "personas":
            results.append(_guarded(name, lambda: train_personas(spark, settings, k_max, force)))
        elif name == "activity":
            results.append(_guarded(name, lambda: train_activity_type(spark, settings, force)))
        elif name == "calories":
            results.extend(train_calories(spark, settings, calories_source, force))
        elif name == "recommend":
            results.append(_guarded(name, lambda: train_recommender(spark, settings, force)))
        else:
            raise ValueError(f"unknown model {name!r}: choose one of all, {', '.join(MODELS)}")
    for r in results:
        if r["status"] == "trained":
            shown = {k: round(v, 4) for k, v in r["metrics"].items() if not k.startswith("silhouette_k")}
            print(f"fitlake train: {r['model']}: {r['registered_model']} v{r['version']} "
                  f"{'-> champion' if r['promoted'] else '(champion unchanged)'} ({r['reason']}); {shown}")
    return results
