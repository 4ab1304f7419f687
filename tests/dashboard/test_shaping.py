"""dashboard.shaping: the pandas behind the charts, with null and zero cases."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fitlake.dashboard import shaping

D1, D2 = dt.date(2023, 4, 1), dt.date(2023, 4, 2)


def test_daily_mean_ignores_nulls_and_handles_empty():
    df = pd.DataFrame({"date": [D1, D1, D2], "wellness_score": [50.0, None, 0.0]})
    assert shaping.daily_mean(df, ["wellness_score"])["wellness_score"].tolist() == [50.0, 0.0]
    assert shaping.daily_mean(df.iloc[:0], ["wellness_score"]).empty


def test_segment_counts_orders_segments_and_skips_nulls():
    df = pd.DataFrame({"date": [D1, D1, D1, D2], "user_id": [1, 2, 3, 1],
                       "engagement_segment": ["Low", "High", None, "Low"]})
    counts = shaping.segment_counts(df)
    assert list(counts.columns) == ["High", "Low"]
    assert counts.loc[D2].tolist() == [0, 1]


def test_segment_transitions_counts_moves_and_leaves_out_missing_users():
    df = pd.DataFrame({
        "date": [D1, D1, D1, D2, D2, D2],
        "user_id": [1, 2, 3, 1, 2, 4],
        "engagement_segment": ["Low", "High", "Medium", "Medium", "High", "Low"],
    })
    moves = shaping.segment_transitions(df, D1, D2)
    assert list(moves.index) == ["High", "Medium", "Low"] and list(moves.columns) == ["High", "Medium", "Low"]
    assert moves.loc["Low", "Medium"] == 1 and moves.loc["High", "High"] == 1
    assert int(moves.to_numpy().sum()) == 2  # user 3 has no D2 row, user 4 no D1 row
    assert shaping.segment_transitions(df, D1, dt.date(2030, 1, 1)).empty


def test_histogram_bins_nulls_zero_and_constant():
    hist = shaping.histogram(pd.Series([0.0, 0.5, 1.0, None]), bins=2)
    assert hist["count"].tolist() == [1, 2]  # the last bin includes its end; the null is not counted
    assert hist["bin_start"].tolist() == [0.0, 0.5]
    constant = shaping.histogram(pd.Series([0.0, 0.0]), bins=5)
    assert constant["count"].sum() == 2
    assert shaping.histogram(pd.Series([None], dtype="float64")).empty


def test_persona_sizes_with_and_without_names():
    named = pd.DataFrame({"user_id": [1, 2, 3, 3], "persona_id": [0, 0, 1, 1], "persona": ["a", "a", "b", "b"]})
    sizes = shaping.persona_sizes(named)
    assert sizes[["persona", "users"]].values.tolist() == [["a", 2], ["b", 1]]
    assert sizes["share"].sum() == pytest.approx(1.0)
    ids_only = shaping.persona_sizes(pd.DataFrame({"user_id": [1, 2], "prediction": [0, 1]}))
    assert ids_only["persona"].tolist() == ["persona 0", "persona 1"]
    assert shaping.persona_sizes(pd.DataFrame({"user_id": []})).empty


def test_correlations_skip_constant_keys_and_flags():
    df = pd.DataFrame({"steps": [0, 1000, 2000], "calories": [1500.0, 1600.0, 1700.0], "zero": [0, 0, 0],
                       "date_key": [1, 2, 3], "is_non_wear": [True, False, False], "_line": [1, 2, 3]})
    corr = shaping.correlations(df)
    assert set(corr["x"]) == {"steps", "calories"}
    assert corr.set_index(["x", "y"]).loc[("steps", "calories"), "r"] == pytest.approx(1.0)
    assert shaping.correlations(df[["zero"]]).empty


def test_window_totals_and_latest():
    t = pd.Timestamp("2023-04-14 08:00", tz="UTC")
    w = pd.DataFrame({"window_start": [t, t, t + pd.Timedelta(seconds=30)], "steps": [1, 2, np.int64(0)],
                      "window_end": [t + pd.Timedelta(seconds=30)] * 2 + [t + pd.Timedelta(seconds=60)]})
    assert shaping.window_totals(w, "steps")["steps"].tolist() == [3, 0]
    assert shaping.latest(w, "window_end", 1)["steps"].tolist() == [0]
    assert shaping.window_totals(w.iloc[:0], "steps").empty


def test_type_agreement_counts_per_recorded_type_and_skips_unknowns():
    df = pd.DataFrame({"actual_activity_type": ["run", "run", "run", "yoga", None, "yoga"],
                       "predicted_activity_type": ["run", "walk", "run", "yoga", "run", None]})
    out = shaping.type_agreement(df)
    assert out.to_dict("list") == {"activity_type": ["run", "yoga"], "records": [3, 1], "predicted_same": [2, 1],
                                   "agreement": [2 / 3, 1.0]}
    zero = shaping.type_agreement(df.assign(predicted_activity_type="walk"))
    assert zero["agreement"].tolist() == [0.0, 0.0]
    assert shaping.type_agreement(df.iloc[:0]).empty
    assert shaping.type_agreement(df.iloc[4:5]).empty  # nulls only


def test_completeness_by_input_and_flags_put_the_rare_gaps_first():
    import datetime as dt

    d = [dt.date(2016, 4, i) for i in (12, 13, 14)]
    df = pd.DataFrame({
        "user_id": [1, 1, 1, 2, 2],
        "date": [d[0], d[1], d[2], d[0], d[1]],
        "missing_inputs": ["heartrate_seconds", "heartrate_seconds", None, "sleep_day,heartrate_seconds",
                           "heartrate_seconds"],
        "quarantined_inputs": [None, None, None, None, "hourly_steps,sleep_day"],
        "quarantined_rows": [0, 0, 0, 0, 3],
        "is_complete": [False, False, True, False, False],
    })
    by_input = shaping.completeness_by_input(df)
    assert by_input.to_dict("records") == [
        {"input": "heartrate_seconds", "days_missing": 4, "days_quarantined": 0},
        {"input": "sleep_day", "days_missing": 1, "days_quarantined": 1},
        {"input": "hourly_steps", "days_missing": 0, "days_quarantined": 1}]
    flags = shaping.completeness_flags(df)
    assert flags[["user_id", "date", "flags", "days_alike"]].values.tolist() == [
        [2, d[1], "missing: heartrate_seconds; quarantined: hourly_steps, sleep_day (3 rows)", 1],
        [2, d[0], "missing: sleep_day, heartrate_seconds", 1],
        [1, d[1], "missing: heartrate_seconds", 2],
        [1, d[0], "missing: heartrate_seconds", 2]]  # the complete day is not listed
    gaps = shaping.completeness_gaps(flags)
    assert gaps.values.tolist() == [
        ["missing: heartrate_seconds", 2, 1, d[0], d[1]],
        ["missing: heartrate_seconds; quarantined: hourly_steps, sleep_day (3 rows)", 1, 1, d[1], d[1]],
        ["missing: sleep_day, heartrate_seconds", 1, 1, d[0], d[0]]]
    empty = df[df["is_complete"]]  # only the complete day: nothing to flag
    assert shaping.completeness_flags(empty).empty and shaping.completeness_gaps(shaping.completeness_flags(empty)).empty
    assert shaping.completeness_by_input(empty).empty
