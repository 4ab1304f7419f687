"""Feature builders, splits and the pure helpers: small hand-checkable frames, including nulls and zeros."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from chispa import assert_df_equality

from fitlake.ml import features as fx
from fitlake.ml import models as mdl
from fitlake.ml.splits import NotEnoughData, split_by_time, split_by_user, time_cutoff
from fitlake.ml.tracking import is_better

D = dt.date


def test_with_calendar_iso_weekday_and_weekend(spark):
    df = spark.createDataFrame([(D(2023, 4, 3),), (D(2023, 4, 8),), (D(2023, 4, 9),), (None,)], "date DATE")
    expected = spark.createDataFrame(
        [(D(2023, 4, 3), 1, False), (D(2023, 4, 8), 6, True), (D(2023, 4, 9), 7, True), (None, None, None)],
        "date DATE, day_of_week INT, is_weekend BOOLEAN")
    assert_df_equality(df.transform(fx.with_calendar("date")), expected, ignore_nullable=True, ignore_row_order=True)


def test_with_activity_intensity_null_and_zero_duration(spark):
    df = spark.createDataFrame(
        [(6000, 60, 10.0, False), (0, 0, 0.0, True), (None, None, None, None)],
        "steps INT, duration_minutes INT, distance_km DOUBLE, is_weekend BOOLEAN")
    expected = spark.createDataFrame(
        [(6000, 60, 10.0, False, 10.0, 100.0, 0.0), (0, 0, 0.0, True, None, None, 1.0),
         (None, None, None, None, None, None, None)],
        "steps INT, duration_minutes INT, distance_km DOUBLE, is_weekend BOOLEAN, speed_kmh DOUBLE, "
        "steps_per_minute DOUBLE, is_weekend_num DOUBLE")
    assert_df_equality(df.transform(fx.with_activity_intensity), expected, ignore_nullable=True,
                       ignore_row_order=True)


def test_with_worn_minutes_sums_and_keeps_null(spark):
    cols = "very_active_minutes INT, fairly_active_minutes INT, lightly_active_minutes INT, sedentary_minutes INT"
    df = spark.createDataFrame([(10, 20, 200, 1210), (0, 0, 0, 0), (5, None, 100, 700)], cols)
    expected = spark.createDataFrame([(10, 20, 200, 1210, 1440), (0, 0, 0, 0, 0), (5, None, 100, 700, None)],
                                     cols + ", worn_minutes INT")
    assert_df_equality(df.transform(fx.with_worn_minutes), expected, ignore_nullable=True, ignore_row_order=True)


def test_filter_wear_days_drops_non_wear_and_zero_step_days(spark):
    df = spark.createDataFrame([(1, 5000, False), (2, 0, False), (3, 4000, True), (4, 3000, None), (5, None, False)],
                               "user_id INT, total_steps INT, is_non_wear BOOLEAN")
    kept = df.transform(fx.filter_wear_days("total_steps"))
    assert sorted(r.user_id for r in kept.collect()) == [1, 4]
    # activity records: a 0-step swim is a real record, only the non-wear flag removes a row
    assert sorted(r.user_id for r in df.transform(fx.filter_wear_days()).collect()) == [1, 2, 4, 5]


def test_user_activity_mix_shares_sum_to_one_and_zero_for_unseen_types(spark):
    df = spark.createDataFrame([(1, "running"), (1, "running"), (1, "yoga"), (1, "walking"), (2, "yoga"),
                                (2, None), (3, "unicycling")], "user_id BIGINT, activity_type STRING")
    rows = {r.user_id: r for r in df.transform(fx.user_activity_mix).collect()}
    assert set(rows) == {1, 2}  # a user with only unknown types has no mix (left null by the persona join)
    assert rows[1].share_running == 0.5 and rows[1].share_yoga == 0.25 and rows[1].share_cycling == 0.0
    assert rows[2].share_yoga == 1.0
    assert math.isclose(sum(rows[1][f"share_{t}"] for t in fx.ACTIVITY_TYPES), 1.0)


def test_user_behaviour_averages_worn_days_and_keeps_users_without_sleep(spark):
    daily = spark.createDataFrame(
        [(1, D(2023, 4, 1), 10000, 2500, 30, 10, 200, 1000, False), (1, D(2023, 4, 2), 0, 1800, 0, 0, 0, 1440, True),
         (1, D(2023, 4, 3), 6000, 2100, 10, 10, 150, 1100, None), (2, D(2023, 4, 1), 0, 1500, 0, 0, 0, 1440, True)],
        "user_id BIGINT, date DATE, steps INT, calories INT, very_active_minutes INT, fairly_active_minutes INT, "
        "lightly_active_minutes INT, sedentary_minutes INT, is_non_wear BOOLEAN")
    sleep = spark.createDataFrame([(1, 420, 0.9), (1, 360, None)],
                                  "user_id BIGINT, minutes_asleep INT, sleep_efficiency DOUBLE")
    out = {r.user_id: r for r in fx.user_behaviour(daily, sleep).collect()}
    assert out[1].avg_steps == 8000.0 and out[1].avg_active_minutes == 30.0 and out[1].avg_calories == 2300.0
    assert math.isclose(out[1].wear_share, 2 / 3) and out[1].avg_minutes_asleep == 390.0
    assert out[1].avg_sleep_efficiency == 0.9
    assert out[2].avg_steps is None and out[2].wear_share == 0.0 and out[2].avg_minutes_asleep is None


def test_interaction_counts_skip_null_keys(spark):
    df = spark.createDataFrame([(1, "yoga"), (1, "yoga"), (1, "running"), (None, "yoga"), (2, None)],
                               "user_id BIGINT, activity_type STRING")
    expected = spark.createDataFrame([(1, "yoga", 2.0), (1, "running", 1.0)],
                                     "user_id BIGINT, activity_type STRING, n DOUBLE")
    assert_df_equality(df.transform(fx.interaction_counts), expected, ignore_nullable=True, ignore_row_order=True)


def test_top_k_per_user_ranks_by_score_then_name(spark):
    df = spark.createDataFrame([(1, "yoga", 0.9), (1, "hiking", 0.5), (1, "running", 0.5), (1, "walking", 0.1),
                                (2, "yoga", 0.0)], "user_id BIGINT, activity_type STRING, score DOUBLE")
    expected = spark.createDataFrame([(1, "yoga", 0.9, 1), (1, "hiking", 0.5, 2), (1, "running", 0.5, 3),
                                      (2, "yoga", 0.0, 1)], "user_id BIGINT, activity_type STRING, score DOUBLE, rank INT")
    assert_df_equality(df.transform(fx.top_k_per_user(3)), expected, ignore_nullable=True, ignore_row_order=True)


def test_time_split_first_75_percent_of_days(spark):
    days = [D(2023, 4, 1) + dt.timedelta(days=i) for i in range(8)]
    df = spark.createDataFrame([(1, d) for d in days] + [(2, days[0]), (3, None)], "user_id INT, date DATE")
    cutoff = time_cutoff(df)
    assert cutoff == days[5]  # floor(8 * 0.75) = 6 training days
    train, test = split_by_time(df, cutoff)
    assert train.count() == 7 and test.count() == 2
    with pytest.raises(NotEnoughData):
        time_cutoff(df.where("date = '2023-04-01'"))


def test_user_split_is_stable_and_disjoint(spark):
    df = spark.range(400).selectExpr("id + 1000000000 AS user_id")
    train, test = split_by_user(df)
    a, b = {r.user_id for r in train.collect()}, {r.user_id for r in test.collect()}
    assert not a & b and len(a | b) == 400 and 60 < len(b) < 140
    assert {r.user_id for r in split_by_user(df)[1].collect()} == b


def test_persona_names_come_from_centroids_and_are_unique():
    features = ["avg_steps", "avg_minutes_asleep", "share_yoga", "wear_share"]
    centers = [[1.5, -1.0, -0.1, 0.0], [-1.2, 0.9, 1.4, 0.1], [0.1, 0.0, 0.05, -0.1], [1.4, -0.9, 0.3, 0.0]]
    names = mdl.persona_names(centers, features)
    assert names[0] == "high-steps/short-sleep"
    assert names[1] == "yoga-fan/low-steps"
    assert names[2] == "average"
    assert names[3] == "high-steps/short-sleep/yoga-fan"
    assert len(set(names)) == 4


def test_classification_metrics_against_majority_baseline():
    confusion = {("run", "run"): 4, ("run", "walk"): 1, ("walk", "walk"): 3, ("yoga", "walk"): 2}
    m = mdl.classification_metrics(confusion, baseline_class="run")
    assert m["accuracy"] == 0.7
    # F1: run 2*4/(4+5)=8/9, walk 2*3/(6+3)=2/3, yoga 0 -> macro 14/27
    assert math.isclose(m["macro_f1"], (8 / 9 + 2 / 3) / 3)
    assert m["baseline_accuracy"] == 0.5
    assert math.isclose(m["baseline_macro_f1"], (2 * 5 / (10 + 5)) / 3)
    assert mdl.classification_metrics({}, baseline_class="run") == {}


def test_is_better_is_strict_and_direction_aware():
    assert is_better(0.5, None, True) and is_better(0.5, float("nan"), True)
    assert not is_better(0.8, 0.8, True) and not is_better(0.8 + 1e-12, 0.8, True)
    assert is_better(0.81, 0.8, True) and not is_better(0.79, 0.8, True)
    assert is_better(10.0, 11.0, False) and not is_better(float("nan"), 0.1, True)


def test_adjusted_rand_index_known_values():
    from fitlake.ml.models import adjusted_rand_index

    assert adjusted_rand_index([0, 0, 1, 1], ["a", "a", "b", "b"]) == 1.0  # same partition, other names
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    # sklearn.metrics.adjusted_rand_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == 0.24242424...
    assert adjusted_rand_index([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(0.2424242424)


def test_choose_k_takes_the_finest_stable_clustering():
    from fitlake.ml.models import choose_k

    sil = {2: 0.34, 3: 0.45, 4: 0.61, 5: 0.59, 6: 0.41}
    # the 300-user generated run: merging two personas (k=4) is stable too; k=5 is the finest stable split
    assert choose_k({2: 0.23, 3: 0.54, 4: 0.91, 5: 0.87, 6: 0.65}, sil) == 5
    assert choose_k({2: 0.6, 3: 0.7, 4: 0.7, 5: 0.5, 6: 0.4}, sil) == 4  # none stable: most stable, best silhouette


def test_driver_kmeans_finds_separated_groups_and_silhouette_matches_sklearn():
    import numpy as np
    from sklearn.metrics import silhouette_score

    from fitlake.ml.models import adjusted_rand_index, kmeans_labels, squared_silhouette

    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 12)
    x = np.array([[0, 0, 0], [6, 0, 0], [0, 6, 3]], dtype=float)[truth] + rng.normal(0, 0.5, (36, 3))
    labels = kmeans_labels(x, 3, seed=42)
    assert adjusted_rand_index(truth.tolist(), labels.tolist()) == 1.0  # well-separated groups: found exactly
    assert (kmeans_labels(x, 3, seed=42) == labels).all()  # seeded: the same labels again
    # Spark's ClusteringEvaluator default: squared Euclidean, a singleton scores 0
    for lab in (labels, kmeans_labels(x, 5, seed=7), np.r_[np.zeros(35, int), 1]):
        assert squared_silhouette(x, lab) == pytest.approx(silhouette_score(x, lab, metric="sqeuclidean"))
    assert squared_silhouette(x, np.zeros(36, int)) == -1.0  # one cluster: undefined, the worst value
