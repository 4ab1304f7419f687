"""Model monitoring: does what a champion scores still look like what it was trained on, and is it still as good?

- **At training** (``training_baseline``): for every numeric model input, bin edges at the training deciles and the
  share of training rows per bin (nulls are a bin of their own), the same for the model's predictions (deciles for a
  number, one bin per class or persona), and the error measured on the held-out split. The baseline is logged with
  the run as ``monitoring_baseline.json``: the bins are fixed when the model is fitted, never re-derived later.
- **At scoring** (``fitlake score``): the rows a champion scores in one run are binned with those edges and compared
  with the training shares by the population stability index, PSI = sum((a - e) * ln(a / e)) per feature and for
  the predictions; for models whose actuals arrive later (calories, activity type) the champion's error over the
  last ``ERROR_WINDOW_DAYS`` days with actuals is compared with its training error. Thresholds: ``fitlake.config``.
- Results go to ``gold.model_monitoring``, one row per (monitoring batch, model version, metric, feature). The batch
  id is a hash of the scored rows, so a rerun that scores the same rows adds nothing (a batch id already in the
  table is not appended again).
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType, DateType, DoubleType, LongType, StringType, StructField, StructType, TimestampType,
)

from fitlake import config, delta_io
from fitlake.frames import local_frame

BASELINE_FILE = "monitoring_baseline.json"
NULL_BIN = "null"
EPSILON = 1e-4  # share floor: an empty bin on one side would make PSI infinite
DECILES = [i / 10 for i in range(1, 10)]

MONITORING_SCHEMA = StructType([
    StructField("batch_id", StringType()),
    StructField("model_name", StringType()),
    StructField("model_version", StringType()),
    StructField("metric", StringType()),
    StructField("feature", StringType()),
    StructField("value", DoubleType()),
    StructField("baseline", DoubleType()),
    StructField("threshold", DoubleType()),
    StructField("drifted", BooleanType()),
    StructField("rows", LongType()),
    StructField("window_start", DateType()),
    StructField("window_end", DateType()),
    StructField("retrain_due", BooleanType()),
    StructField("_monitored_at", TimestampType()),
])
KEYS = ["batch_id", "model_name", "model_version", "metric", "feature"]


# --- pure transforms ---------------------------------------------------------------------------------------------

def bin_column(col: Column, edges: list[float] | None) -> Column:
    """The bin of a value as a string: ``null``; the index of the interval between the inner ``edges`` for a
    number (values below the first edge -> "0"); the value itself for a category (``edges`` None)."""
    if edges is None:
        return F.coalesce(col.cast("string"), F.lit(NULL_BIN))
    index = reduce(lambda acc, e: acc + F.when(col >= F.lit(float(e)), 1).otherwise(0), edges, F.lit(0))
    return F.when(col.isNull(), F.lit(NULL_BIN)).otherwise(index.cast("string"))


def bin_shares(bins: dict[str, list[float] | None]):
    """DataFrame -> (feature, bin, n, share): each of ``bins``' columns binned with its edges, share per feature."""

    def _(df: DataFrame) -> DataFrame:
        pairs = F.array(*[F.struct(F.lit(c).alias("feature"), bin_column(F.col(c).cast(
            "double" if e is not None else "string"), e).alias("bin")) for c, e in bins.items()])
        counted = (df.select(F.explode(pairs).alias("p")).select("p.feature", "p.bin")
                   .groupBy("feature", "bin").agg(F.count(F.lit(1)).alias("n")))
        return counted.withColumn("share", F.col("n") / F.sum("n").over(Window.partitionBy("feature")))

    return _


def psi(expected: DataFrame):
    """(feature, bin, share) of the actual rows -> (feature, psi, rows) against ``expected`` (feature, bin, share):
    a bin missing on one side counts as share 0, floored at ``EPSILON``."""

    def _(actual: DataFrame) -> DataFrame:
        e = expected.select("feature", "bin", F.col("share").alias("e"))
        a = actual.select("feature", "bin", F.col("share").alias("a"), F.col("n"))
        both = e.join(a, ["feature", "bin"], "full_outer").select(
            "feature", F.greatest(F.coalesce("e", F.lit(0.0)), F.lit(EPSILON)).alias("e"),
            F.greatest(F.coalesce("a", F.lit(0.0)), F.lit(EPSILON)).alias("a"), F.coalesce("n", F.lit(0)).alias("n"))
        return both.groupBy("feature").agg(
            F.sum((F.col("a") - F.col("e")) * F.log(F.col("a") / F.col("e"))).alias("psi"),
            F.sum("n").cast("long").alias("rows"))

    return _


# --- at training -------------------------------------------------------------------------------------------------

def decile_edges(df: DataFrame, features: list[str]) -> dict[str, list[float]]:
    """Inner bin edges per numeric feature: the distinct training deciles (a near-constant feature gets few bins)."""
    if not features:
        return {}
    quantiles = df.select(*[F.col(c).cast("double").alias(c) for c in features]).approxQuantile(
        features, DECILES, 0.001)
    return {c: sorted({float(q) for q in qs if q is not None and not math.isnan(q)}) for c, qs in
            zip(features, quantiles)}


def training_baseline(train: DataFrame, features: list[str], prediction: str, numeric_prediction: bool,
                      error_metric: str | None = None, training_error: float | None = None) -> dict:
    """What scoring compares against: bin edges and shares of ``features`` and of ``prediction`` on the training
    rows (``train`` already carries the model's ``prediction``), and the held-out error when actuals will come."""
    bins: dict[str, list[float] | None] = decile_edges(train, [*features, *([prediction] if numeric_prediction
                                                                            else [])])
    if not numeric_prediction:
        bins[prediction] = None
    shares = [r.asDict() for r in train.transform(bin_shares(bins)).select("feature", "bin", "share").collect()]
    return {"features": list(features), "prediction": prediction, "bins": bins, "shares": shares,
            "rows": train.count(), "error_metric": error_metric, "training_error": training_error}


# --- at scoring --------------------------------------------------------------------------------------------------

def load_baseline(settings, model_key: str, version: str) -> dict | None:
    """The baseline logged with a registered version's run, or None (a version trained before monitoring)."""
    import mlflow
    from mlflow import MlflowClient

    from fitlake.ml import tracking

    tracking.configure(settings)
    run_id = MlflowClient().get_model_version(settings.model_name(model_key), version).run_id
    try:
        return json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/{BASELINE_FILE}"))
    except Exception:  # noqa: BLE001 - no such artifact: the version predates monitoring
        return None


def batch_size_and_id(model_name: str, version: str, scored: DataFrame, cols: list[str]) -> tuple[int, str]:
    """(rows, batch id) from one aggregation of the scored rows: the id is deterministic (the same rows scored again
    give the same id), the row count comes with it (no second Spark job)."""
    row = scored.agg(F.count(F.lit(1)).alias("n"),
                     F.sum(F.xxhash64(*[F.col(c) for c in cols]).cast("decimal(38,0)")).alias("h")).first()
    text = json.dumps([model_name, version, int(row["n"]), str(row["h"])])
    return int(row["n"]), hashlib.sha256(text.encode()).hexdigest()[:24]


def drift_rows(spark, scored: DataFrame, baseline: dict, psi_threshold: float = config.MONITOR_PSI_THRESHOLD
               ) -> list[dict]:
    """PSI of every baseline feature and of the prediction for the rows of one scoring run (``scored`` carries the
    inputs and the model's ``baseline['prediction']`` column); one dict per feature."""
    bins = {c: e for c, e in baseline["bins"].items() if c in scored.columns}
    expected = local_frame(
        spark, [(s["feature"], s["bin"], float(s["share"])) for s in baseline["shares"] if s["feature"] in bins],
        "feature STRING, bin STRING, share DOUBLE")
    result = scored.transform(bin_shares(bins)).transform(psi(expected)).collect()
    out = []
    for r in sorted(result, key=lambda r: r["feature"]):
        is_prediction = r["feature"] == baseline["prediction"]
        value = float(r["psi"])
        out.append({"metric": "prediction_psi" if is_prediction else "input_psi", "feature": r["feature"],
                    "value": value, "baseline": 0.0, "threshold": psi_threshold, "drifted": value > psi_threshold,
                    "rows": int(r["rows"])})
    return out


def rolling_error(predictions: DataFrame, error: Column, window_days: int = config.MONITOR_ERROR_WINDOW_DAYS
                  ) -> dict | None:
    """Mean of ``error`` over the last ``window_days`` dates of ``predictions`` that have an actual (the caller
    filters to one model version and to rows with actuals); None when there are none."""
    last = predictions.agg(F.max("date")).first()[0]
    if last is None:
        return None
    recent = predictions.where(F.col("date") > F.date_sub(F.lit(last), window_days))
    row = recent.agg(F.avg(error.cast("double")).alias("e"), F.count(F.lit(1)).alias("n"),
                     F.min("date").alias("start")).first()
    return {"value": float(row["e"]), "rows": int(row["n"]), "window_start": row["start"], "window_end": last}


def error_row(baseline: dict, rolling: dict | None, ratio: float = config.MONITOR_ERROR_RATIO,
              min_rows: int = config.MONITOR_MIN_ROWS) -> dict | None:
    """The champion's rolling error beside its training error; drifted when it is ``ratio`` times worse (and at
    least ``min_rows`` scored rows with actuals back it)."""
    if rolling is None or baseline.get("training_error") is None:
        return None
    trained = float(baseline["training_error"])
    threshold = trained * ratio
    return {"metric": f"rolling_{baseline['error_metric']}", "feature": baseline["error_metric"],
            "value": rolling["value"], "baseline": trained, "threshold": threshold,
            "drifted": rolling["rows"] >= min_rows and rolling["value"] > threshold, "rows": rolling["rows"],
            "window_start": rolling["window_start"], "window_end": rolling["window_end"]}


def record_model_monitoring(spark, settings, model_key: str, version: str, batch: str, rows: list[dict]) -> dict:
    """Insert one scoring run's monitoring rows into gold.model_monitoring (a batch already recorded adds nothing);
    returns {"retrain_due": bool, "reasons": [...], "inserted": n}."""
    name = settings.model_name(model_key)
    reasons = [f"{r['metric']} {r['feature']} {r['value']:.3f} > {r['threshold']:.3f}" for r in rows if r["drifted"]]
    due = bool(reasons)
    if not rows:
        return {"retrain_due": False, "reasons": [], "inserted": 0}
    data = [{**{f.name: None for f in MONITORING_SCHEMA.fields}, **r, "batch_id": batch, "model_name": name,
             "model_version": str(version), "retrain_due": due} for r in rows]
    df = local_frame(spark, data, MONITORING_SCHEMA).withColumn("_monitored_at", F.current_timestamp())
    ref = settings.table("gold", "model_monitoring")
    if not delta_io.exists(spark, ref):  # the first batch ever: the table created with its rows in one commit
        delta_io.create_from(df, ref)
        return {"retrain_due": due, "reasons": reasons, "inserted": len(data)}
    seen = delta_io.read(spark, ref).where((F.col("batch_id") == batch) & (F.col("model_name") == name)
                                           & (F.col("model_version") == str(version)))
    if not seen.isEmpty():  # this batch is recorded already: a rerun commits nothing
        return {"retrain_due": due, "reasons": reasons, "inserted": 0}
    # a batch not recorded yet has none of its keys in the table: a plain append (one commit, no join with the
    # table as an insert-only MERGE on KEYS would do) inserts exactly what that MERGE would
    delta_io.write(df, ref, mode="append")
    return {"retrain_due": due, "reasons": reasons, "inserted": len(data)}
