"""The drift transforms of fitlake.ml.monitoring on tiny DataFrames: bins fixed at training, PSI per feature, the
rolling error beside the training error. (One scoring run end to end: tests/ml/test_ml_pipeline.py.)"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from chispa import assert_df_equality

from fitlake import config
from fitlake.ml import monitoring


def _frame(spark, steps: list, kinds: list):
    return spark.createDataFrame(list(zip(steps, kinds)), "steps DOUBLE, kind STRING")


def test_bins_are_the_training_intervals_with_nulls_apart(spark):
    df = spark.createDataFrame([(v,) for v in (None, 1.0, 5.0, 10.0, 25.0)], "steps DOUBLE")
    got = df.select(monitoring.bin_column(df.steps, [5.0, 20.0]).alias("bin"))
    want = spark.createDataFrame([("null",), ("0",), ("1",), ("1",), ("2",)], "bin STRING")
    assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)
    shares = df.transform(monitoring.bin_shares({"steps": [5.0, 20.0]})).where("bin = '1'").first()
    assert (shares["n"], shares["share"]) == (2, pytest.approx(0.4))


def test_an_unchanged_batch_is_not_flagged_and_a_drifted_one_is(spark):
    rng = random.Random(1)
    train = _frame(spark, [rng.gauss(8000, 2000) for _ in range(400)], [rng.choice("aab") for _ in range(400)])
    baseline = monitoring.training_baseline(train.withColumnRenamed("kind", "pred"), ["steps"], "pred",
                                            numeric_prediction=False)
    assert len(baseline["bins"]["steps"]) == 9 and baseline["bins"]["pred"] is None  # deciles, classes

    same = _frame(spark, [rng.gauss(8000, 2000) for _ in range(300)], [rng.choice("aab") for _ in range(300)])
    rows = {r["feature"]: r for r in monitoring.drift_rows(spark, same.withColumnRenamed("kind", "pred"), baseline)}
    assert rows["steps"]["metric"] == "input_psi" and rows["pred"]["metric"] == "prediction_psi"
    assert not rows["steps"]["drifted"] and rows["steps"]["value"] < 0.1 and rows["steps"]["rows"] == 300
    assert not rows["pred"]["drifted"]

    # steps shift by one standard deviation, a class never seen at training turns up
    moved = _frame(spark, [rng.gauss(10000, 2000) for _ in range(300)], [rng.choice("bbc") for _ in range(300)])
    rows = {r["feature"]: r for r in monitoring.drift_rows(spark, moved.withColumnRenamed("kind", "pred"), baseline)}
    assert rows["steps"]["drifted"] and rows["steps"]["value"] > config.MONITOR_PSI_THRESHOLD
    assert rows["pred"]["drifted"]


def test_a_batch_of_nulls_is_drift_not_a_crash(spark):
    train = spark.createDataFrame([(float(i), "a") for i in range(100)], "steps DOUBLE, pred STRING")
    baseline = monitoring.training_baseline(train, ["steps"], "pred", numeric_prediction=False)
    nulls = spark.createDataFrame([(None, "a")] * 50, "steps DOUBLE, pred STRING")
    rows = {r["feature"]: r for r in monitoring.drift_rows(spark, nulls, baseline)}
    assert rows["steps"]["drifted"] and not rows["pred"]["drifted"]


def test_rolling_error_is_the_last_window_and_compares_with_training_error(spark):
    start = dt.date(2024, 1, 1)
    rows = [(start + dt.timedelta(days=d), 100.0 if d < 20 else 300.0) for d in range(30)]
    df = spark.createDataFrame(rows, "date DATE, err DOUBLE")
    rolling = monitoring.rolling_error(df, df.err, window_days=10)
    assert rolling == {"value": 300.0, "rows": 10, "window_start": start + dt.timedelta(days=20),
                       "window_end": start + dt.timedelta(days=29)}
    base = {"error_metric": "mae", "training_error": 120.0}
    row = monitoring.error_row(base, rolling, ratio=1.5, min_rows=5)
    assert row["drifted"] and row["threshold"] == pytest.approx(180.0) and row["metric"] == "rolling_mae"
    assert not monitoring.error_row(base, monitoring.rolling_error(df, df.err, window_days=40), 1.5, 5)["drifted"]
    assert not monitoring.error_row(base, rolling, ratio=1.5, min_rows=11)["drifted"]  # too few rows to judge
    assert monitoring.error_row(base, None) is None


def test_the_table_schema_is_the_ddl(spark, tmp_path):
    from fitlake.gold.job import SQL_DIR, sql_statements

    [stmt] = [s for s in sql_statements((SQL_DIR / "ddl.sql").read_text()) if "gold.model_monitoring" in s]
    spark.sql(stmt.replace("gold.model_monitoring", f"delta.`{tmp_path / 'mm'}`", 1))
    ddl = spark.read.format("delta").load(str(tmp_path / "mm")).schema
    assert [(f.name, f.dataType) for f in ddl.fields] == \
        [(f.name, f.dataType) for f in monitoring.MONITORING_SCHEMA.fields]
