"""Train all models on the generated lakehouse once (one MLflow store for this module), then check what the user
sees: each model beats its baseline, four experiments with metrics beside baselines, a champion per registered
model that a rerun does not move, and incremental scoring into the gold tables."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from chispa.schema_comparer import assert_schema_equality

from fitlake import delta_io
from fitlake.ml import features as fx
from fitlake.ml import models as mdl
from fitlake.ml import lineage, scoring, tracking
from fitlake.ml.train import train

pytestmark = pytest.mark.e2e  # a whole pipeline run (or model training) per module: make test, not make test-fast

REGISTERED = ("personas", "activity", "calories", "calories_fitbit", "recommend")


@pytest.fixture(scope="module")
def trained(spark, ml_lakehouse):
    # log_and_register logs without MLflow's served-input re-check (a pyfunc reload per model); scoring below loads
    # and runs the registered models
    results = train(spark, ml_lakehouse, "all", k_max=5)
    return {r["model"]: r for r in results}, None


@pytest.fixture(scope="module")
def client(trained, ml_lakehouse):
    from mlflow import MlflowClient

    tracking.configure(ml_lakehouse)
    return MlflowClient()


def test_every_model_trains_and_beats_its_baseline(spark, trained, ml_lakehouse):
    import json

    from fitlake.ml.data import persona_inputs

    results, _ = trained
    assert {k: r["status"] for k, r in results.items()} == {k: "trained" for k in REGISTERED}
    p = results["personas"]["metrics"]
    assert p["silhouette"] > 0.5 and p["silhouette"] > p["baseline_silhouette"] + 0.2
    assert p[f"stability_k{int(p['k'])}"] >= mdl.STABLE and p["latent_persona_ari"] >= 0.8  # the groups are found
    # ml_synth draws three behaviour groups (12 users each). The finest reproducible k may cut a group along a real
    # sub-structure (measured: k = 4, the athletes split into running- and cycling-dominant ones), never merge two:
    # every cluster lies inside one group, and every group is found.
    model = tracking.load_model(ml_lakehouse, f"models:/{results['personas']['registered_model']}/1")
    assigned = {r["user_id"]: int(r["prediction"]) for r in
                model.transform(persona_inputs(spark, ml_lakehouse)).select("user_id", "prediction").collect()}
    groups = json.loads((ml_lakehouse.landing_dir / "_manifest.json").read_text())["personas"]["by_user"]
    groups_of_cluster = {c: {groups[str(u)] for u, k in assigned.items() if k == c} for c in set(assigned.values())}
    assert all(len(g) == 1 for g in groups_of_cluster.values()), groups_of_cluster  # pure: no two groups merged
    assert set().union(*groups_of_cluster.values()) == set(groups.values()) and p["k"] >= 3
    a = results["activity"]["metrics"]
    assert a["accuracy"] > a["baseline_accuracy"] + 0.3 and a["macro_f1"] > a["baseline_macro_f1"] + 0.3
    for key in ("calories", "calories_fitbit"):
        c = results[key]["metrics"]
        assert c["r2"] > 0.8 > 0.05 > c["baseline_r2"]
        assert c["rmse"] < c["baseline_rmse"] and c["mae"] < c["baseline_mae"]
    r = results["recommend"]["metrics"]
    assert r["precision_at_k"] > r["baseline_precision_at_k"] and r["map_at_k"] > r["baseline_map_at_k"]


def test_four_experiments_with_baselines_artifacts_and_champions(trained, client, ml_lakehouse):
    import mlflow

    names = {e.name for e in client.search_experiments()}
    assert {f"fitlake-{m}" for m in ("personas", "activity", "calories", "recommend")} <= names
    plots = {"personas": "silhouette_curve.png", "activity": "confusion_matrix.png", "calories": "residuals.png",
             "calories_fitbit": "residuals.png", "recommend": "ranking.png"}
    for key, result in trained[0].items():
        run = client.get_run(result["run_id"])
        assert any(m.startswith("baseline_") for m in run.data.metrics), key
        assert plots[key] in {a.path for a in client.list_artifacts(result["run_id"])}
        champion = client.get_model_version_by_alias(ml_lakehouse.model_name(key), "champion")
        assert str(champion.version) == "1" and champion.tags["test_fingerprint"]
        info = mlflow.models.get_model_info(f"models:/{ml_lakehouse.model_name(key)}/1")
        assert info.signature is not None and info.saved_input_example_info is not None
    assert trained[0]["calories_fitbit"]["metrics"]["r2"] > 0.8
    assert client.get_run(trained[0]["calories_fitbit"]["run_id"]).info.experiment_id == \
        client.get_experiment_by_name("fitlake-calories").experiment_id


EXPECTED_INPUTS = {  # what each trainer reads from the ml_synth lakehouse (no gold.fact_daily_activity there)
    "personas": {"silver.daily_activity", "gold.fact_sleep", "silver.activity"},
    "activity": {"silver.activity"}, "calories": {"silver.activity"},
    "calories_fitbit": {"silver.daily_activity"}, "recommend": {"silver.activity"},
}


def test_every_registered_version_links_its_delta_inputs_and_model_metrics(spark, trained, client, ml_lakehouse):
    import json

    from fitlake.ml import lineage

    current = {t: lineage.current_version(spark, ml_lakehouse.table(*t.split(".")))
               for t in set().union(*EXPECTED_INPUTS.values())}
    for key, expected in EXPECTED_INPUTS.items():
        name = ml_lakehouse.model_name(key)
        versions = client.search_model_versions(f"name = '{name}'")
        assert versions, key
        for v in versions:
            mv = client.get_model_version(name, v.version)
            run = client.get_run(mv.run_id)
            training = [d for d in run.inputs.dataset_inputs
                        if {t.key: t.value for t in d.tags}.get("mlflow.data.context") == "training"]
            by_table = {json.loads(d.dataset.source)["path"]: json.loads(d.dataset.source) for d in training}
            assert {d.dataset.source_type for d in training} == {"delta_table"}, key
            assert set(by_table) == {ml_lakehouse.table(*t.split(".")).path for t in expected}, key
            for t in expected:
                ref = ml_lakehouse.table(*t.split("."))
                assert by_table[ref.path]["delta_table_version"] == str(current[t])
                assert mv.tags[f"input.{t}"] == f"{ref.path}@v{current[t]}"
            # the metrics sit on the LoggedModel the version was registered from, tied to the evaluation data
            model_id = mv.tags["model_id"]  # the local registry leaves ModelVersion.model_id unset
            assert mv.source == f"models:/{model_id}"
            logged = client.get_logged_model(model_id)
            primary = mv.tags["primary_metric_name"]
            [metric] = [m for m in logged.metrics if m.key == primary]
            assert metric.value == pytest.approx(float(mv.tags["primary_metric"]))
            assert metric.dataset_name.endswith("(held-out split)") and metric.dataset_digest
            assert logged.name == "model" and logged.source_run_id == mv.run_id


def test_rerun_without_new_data_registers_nothing_and_force_keeps_champion(spark, trained, client, ml_lakehouse):
    name = ml_lakehouse.model_name("calories_fitbit")
    assert client.get_model_version(name, "1").tags["input_fingerprint"]
    [again] = train(spark, ml_lakehouse, "calories", calories_source="fitbit")
    assert (again["status"], again["version"], again["champion_version"]) == ("unchanged", "1", "1")
    assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
    # --force refits: a new version, same metric on the same test set, the alias stays
    [forced] = train(spark, ml_lakehouse, "calories", calories_source="fitbit", force=True)
    assert forced["version"] == "2" and not forced["promoted"] and "same test set" in forced["reason"]
    assert forced["metrics"]["r2"] == pytest.approx(trained[0]["calories_fitbit"]["metrics"]["r2"], abs=1e-9)
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    # the same inputs again, after the forced copy: unchanged, naming the newest version fitted on them
    [third] = train(spark, ml_lakehouse, "calories", calories_source="fitbit")
    assert (third["status"], third["version"]) == ("unchanged", "2")


def test_changed_input_rows_retrain(spark, trained, ml_lakehouse):
    from fitlake.ml.train import already_trained

    frame = delta_io.read(spark, ml_lakehouse.table("silver", "activity"))
    fp, done = already_trained(ml_lakehouse, "recommend", frame, {"top_k": 3})
    assert done is not None and done["version"] == "1"  # what train_recommender fingerprinted at its first fit
    one_less = frame.orderBy("user_id").limit(frame.count() - 1)
    fp2, done2 = already_trained(ml_lakehouse, "recommend", one_less, {"top_k": 3})
    assert fp2 != fp and done2 is None
    assert already_trained(ml_lakehouse, "recommend", frame, {"top_k": 3}, force=True) == (fp, None)


def test_alias_rules_first_worse_better_and_new_test_data(client, trained):
    name = "fitlake_alias_rules"
    client.create_registered_model(name)
    source = client.get_model_version(trained[0]["calories"]["registered_model"], "1").source

    def new_version() -> str:
        return str(client.create_model_version(name, source).version)

    v1, v2, v3, v4 = new_version(), new_version(), new_version(), new_version()
    first = tracking.decide_and_set_alias(client, name, v1, 0.80, "fp-a", True)
    assert first.promoted and str(client.get_model_version_by_alias(name, "champion").version) == v1
    client.set_model_version_tag(name, v1, "test_fingerprint", "fp-a")
    client.set_model_version_tag(name, v1, "primary_metric", "0.8")
    assert not tracking.decide_and_set_alias(client, name, v2, 0.79, "fp-a", True).promoted
    assert not tracking.decide_and_set_alias(client, name, v2, 0.80, "fp-a", True).promoted  # a tie is not better
    assert str(client.get_model_version_by_alias(name, "champion").version) == v1
    # new test data: the champion is re-scored on it before comparing, not judged by its old number
    rescored = tracking.decide_and_set_alias(client, name, v3, 0.75, "fp-b", True, rescore_champion=lambda uri: 0.70)
    assert rescored.promoted and rescored.champion_metric == 0.70
    assert str(client.get_model_version_by_alias(name, "champion").version) == v3
    # lower-is-better metrics and a champion that cannot be re-scored
    client.set_model_version_tag(name, v3, "test_fingerprint", "fp-b")
    client.set_model_version_tag(name, v3, "primary_metric", "0.75")
    assert not tracking.decide_and_set_alias(client, name, v4, 0.76, "fp-b", False).promoted
    broken = tracking.decide_and_set_alias(client, name, v4, 0.9, "fp-c", True,
                                           rescore_champion=lambda uri: 1 / 0)
    assert broken.promoted and "could not be re-scored" in broken.reason


def test_score_writes_gold_tables_incrementally(spark, trained, ml_lakehouse):
    settings = ml_lakehouse
    first = {r["model"]: r for r in scoring.score(spark, settings)}
    assert {k: r["status"] for k, r in first.items()} == {k: "scored" for k in REGISTERED}

    personas = delta_io.read(spark, settings.table("gold", "user_personas"))
    calories = delta_io.read(spark, settings.table("gold", "predicted_calories"))
    recs = delta_io.read(spark, settings.table("gold", "activity_recommendations"))
    types = delta_io.read(spark, settings.table("gold", "predicted_activity_type"))
    for df, schema in ((personas, scoring.PERSONAS_SCHEMA), (calories, scoring.CALORIES_SCHEMA),
                       (recs, scoring.RECOMMENDATIONS_SCHEMA), (types, scoring.ACTIVITY_TYPE_SCHEMA)):
        assert_schema_equality(df.schema, schema, ignore_nullable=True)

    n_users = 36
    model = tracking.load_model(settings, "models:/fitlake_personas@champion")
    assert personas.count() == n_users and first["personas"]["inserted"] == n_users
    assert {r.persona_name for r in personas.collect()} == set(mdl.persona_model_names(model))

    silver_daily = delta_io.read(spark, settings.table("silver", "daily_activity"))
    worn = silver_daily.transform(fx.filter_wear_days("total_steps")).count()
    assert calories.where("source = 'fitbit'").count() == worn == first["calories_fitbit"]["inserted"]
    one = calories.where("source = 'fitbit'").orderBy("user_id", "date").limit(1)
    assert_df_equality(
        one.selectExpr("round(actual_calories - predicted_calories, 6) AS r", "model_version"),
        one.selectExpr("round(residual, 6) AS r", "'1' AS model_version"), ignore_nullable=True)

    records = delta_io.read(spark, settings.table("silver", "activity")).count()
    assert types.count() == records == first["activity"]["inserted"]
    agree = types.where("predicted_activity_type = actual_activity_type").count() / records
    assert agree > trained[0]["activity"]["metrics"]["baseline_accuracy"] + 0.3  # scored by a model that learned
    assert types.where("NOT probability BETWEEN 0 AND 1 OR probability IS NULL").isEmpty()

    ranks = recs.groupBy("user_id").agg({"rank": "max", "activity_type": "count"}).collect()
    assert len(ranks) == n_users and all(r["max(rank)"] == 3 and r["count(activity_type)"] == 3 for r in ranks)

    # a rerun with nothing new writes nothing
    again = scoring.score(spark, settings)
    assert all(r["inserted"] == 0 and r["updated"] == 0 for r in again), again

    # a correction of one silver row is re-scored alone
    row = silver_daily.transform(fx.filter_wear_days("total_steps")).orderBy("user_id", "activity_date").first()
    delta_io.delta_table(spark, settings.table("silver", "daily_activity")).update(
        f"user_id = {row.user_id} AND activity_date = '{row.activity_date}'",
        {"total_steps": "total_steps + 3000", "_updated_at": "current_timestamp()"})
    third = {r["model"]: r for r in scoring.score(spark, settings)}
    assert (third["calories_fitbit"]["inserted"], third["calories_fitbit"]["updated"]) == (0, 1)
    assert third["calories"]["updated"] == 0 and third["activity"]["updated"] == 0



def _more_fitbit_days(spark, settings, first_day: int, days: int, steps_factor: float = 1.0):
    """Append ``days`` new days of silver.daily_activity for the same users, drawn like the training days (another
    seed), optionally with every step count and distance multiplied by ``steps_factor``."""
    import datetime as dt

    from ml_synth import DAILY_SCHEMA, START, daily_rows, make_users

    rows = [r for r in daily_rows(make_users(36), first_day + days, seed=100 + first_day)
            if r[1] >= START + dt.timedelta(days=first_day)]
    rows = [(r[0], r[1], int(r[2] * steps_factor), *[x * steps_factor if i < 7 else x
                                                     for i, x in enumerate(r[3:10])], *r[10:]) for r in rows]
    delta_io.write(spark.createDataFrame(rows, DAILY_SCHEMA), settings.table("silver", "daily_activity"))


def test_score_monitors_drift_and_says_when_a_retrain_is_due(spark, trained, ml_lakehouse, capsys):
    from pyspark.sql import functions as F

    settings = ml_lakehouse
    if not delta_io.exists(spark, settings.table("gold", "predicted_calories")):
        scoring.score(spark, settings)
    monitored = delta_io.read(spark, settings.table("gold", "model_monitoring"))
    # the scoring runs so far (all rows, then a one-row correction) look like the training data
    assert {r.model_name for r in monitored.collect()} >= {settings.model_name(k) for k in
                                                           ("personas", "activity", "calories", "calories_fitbit")}
    assert monitored.where("drifted OR retrain_due").isEmpty()
    assert {r.metric for r in monitored.collect()} == {"input_psi", "prediction_psi", "rolling_mae",
                                                       "rolling_error_rate"}
    fitbit = settings.model_name("calories_fitbit")

    def batches() -> list:
        return (delta_io.read(spark, settings.table("gold", "model_monitoring"))
                .where(F.col("model_name") == fitbit).select("batch_id").distinct().collect())

    before = len(batches())
    # two weeks more from the same users and the same behaviour: scored, monitored, not flagged
    _more_fitbit_days(spark, settings, 28, 14)
    same = scoring.score_calories(spark, settings, "fitbit")
    assert same["inserted"] > 300 and same["retrain_due"] is False, same
    assert len(batches()) == before + 1
    # two weeks in which every step count tripled (a firmware change, say): input drift, and the calorie model,
    # which learned calories from steps, is now badly wrong
    _more_fitbit_days(spark, settings, 42, 14, steps_factor=3.0)
    results = {r["model"]: r for r in scoring.score(spark, settings)}
    drifted = results["calories_fitbit"]
    assert drifted["retrain_due"] is True
    assert any(r.startswith("input_psi total_steps") for r in drifted["retrain_reasons"]), drifted
    assert any(r.startswith("rolling_mae") for r in drifted["retrain_reasons"]), drifted
    assert "fitlake score: calories_fitbit: retrain due — input_psi" in capsys.readouterr().out
    last = (delta_io.read(spark, settings.table("gold", "model_monitoring"))
            .where((F.col("model_name") == fitbit) & F.col("retrain_due")))
    steps = last.where("metric = 'input_psi' AND feature = 'total_steps'").first()
    assert steps.drifted and steps.value > steps.threshold == pytest.approx(0.25) and steps.rows > 300
    assert not last.where("metric = 'input_psi' AND feature = 'sedentary_minutes'").first().drifted
    # nothing new: no monitoring rows, no commit
    version = lineage.current_version(spark, settings.table("gold", "model_monitoring"))
    again = scoring.score_calories(spark, settings, "fitbit")
    assert again["inserted"] == 0 and again["monitoring"] == "nothing new scored"
    assert lineage.current_version(spark, settings.table("gold", "model_monitoring")) == version


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_champion_answers_invocations_like_batch_scoring(spark, trained, ml_lakehouse, tmp_path):
    """`fitlake serve --model calories` on 127.0.0.1: MLflow's /invocations gives gold.predicted_calories."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    import mlflow

    from fitlake.ml.train import calories_frame
    from fitlake.spark import gc_options, jit_options

    settings = ml_lakehouse
    if not delta_io.exists(spark, settings.table("gold", "predicted_calories")):
        scoring.score(spark, settings)
    tracking.configure(settings)
    name = settings.model_name("calories")
    inputs = mlflow.models.get_model_info(f"models:/{name}@champion").signature.inputs.input_names()
    batch = delta_io.read(spark, settings.table("gold", "predicted_calories")).where("source = 'activity'")
    rows = (calories_frame(spark, settings, "activity").join(batch, ["user_id", "date"])
            .orderBy("user_id", "date").limit(25).toPandas())
    assert len(rows) == 25

    port = _free_port()
    log = open(tmp_path / "serve.log", "w")
    # The server's Spark is started by MLflow, not by fitlake.spark: its JVM gets the C1 JIT (with its 8 MB stacks)
    # and the parallel collector that the suite's other short-lived JVMs run with (tests/faults/fault_jobs.job_env),
    # through the JVM launcher's own variable; a few dozen predictions never repay C2's compiling. The model, its
    # loading and /invocations are what `fitlake serve` runs.
    jvm = " ".join([*jit_options("c1"), *gc_options()])
    proc = subprocess.Popen([sys.executable, "-m", "fitlake.cli", "serve", "--model", "calories", "--root",
                             str(settings.root), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env={**os.environ, "JDK_JAVA_OPTIONS": jvm})
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.25)  # a ping costs nothing; every 2 s waited 1 s on average
        body = json.dumps({"dataframe_split": json.loads(rows[inputs].to_json(orient="split", date_format="iso"))})
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as r:
            answer = json.loads(r.read())["predictions"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the workers it started, nothing else
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    served = [a["prediction"] if isinstance(a, dict) else a for a in answer]
    # what `fitlake score` wrote to gold.predicted_calories for these same rows
    assert served == pytest.approx(rows["predicted_calories"].tolist(), rel=1e-9, abs=1e-6)
