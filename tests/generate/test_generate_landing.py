"""The landing generator: determinism, sizes, manifest <-> files, coherence between formats and hourly/daily."""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd

from fitlake.generate import generate_landing
from fitlake.generate.landing import KINDS, MANIFEST

from conftest import SMALL


def checksums(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_identical_bytes_different_seed_differs(small_landing, tmp_path):
    out, _ = small_landing
    again = tmp_path / "again"
    generate_landing(again, **{**SMALL, "workers": 2})  # two spawn workers must not change a byte
    assert checksums(again) == checksums(out)
    other = tmp_path / "other"
    generate_landing(other, **{**SMALL, "seed": SMALL["seed"] + 1, "days": 2})
    first = checksums(out)
    assert all(first.get(name) != digest for name, digest in checksums(other).items())


def test_rerun_is_idempotent(small_landing, tmp_path):
    out = tmp_path / "rerun"
    args = {**SMALL, "days": 2}
    generate_landing(out, **args)
    before = checksums(out)
    (out / MANIFEST).unlink()  # like a run killed before it finished
    generate_landing(out, **args)
    assert checksums(out) == before


def test_defaults_are_the_reference_size(tmp_path):
    params = inspect.signature(generate_landing).parameters
    assert (params["users"].default, params["days"].default) == (1959, 183)
    m = generate_landing(tmp_path, days=1, progress=False, workers=1)  # default users, one day
    assert m["totals"]["activity"]["records_clean"] == 1959
    assert m["totals"]["daily_activity"]["records_clean"] == 1959
    assert m["totals"]["hourly_steps"]["records_clean"] == 1959 * 24
    assert len(m["personas"]["by_user"]) == 1959
    assert all(len(u) == 10 for u in m["personas"]["by_user"])
    assert generate_landing(tmp_path / "x", users=10, scale=3, days=1, progress=False)["users"] == 30


def _lines(root: Path, rel: str) -> list[str]:
    return (root / rel).read_bytes().decode().replace("\r\n", "\n").split("\n")[:-1]


def test_manifest_matches_files(small_landing):
    out, m = small_landing
    users, days = SMALL["users"], SMALL["days"]
    assert m["totals"]["activity"]["records_clean"] == users * days
    assert {k: v for k, v in m.items() if k != "elapsed_seconds"} == json.loads((out / MANIFEST).read_text())
    for source, t in m["totals"].items():
        files = [p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST]
        mine = [p for p in files if _source_of(p) == source]
        assert len(mine) == t["files"], source
        header = 0 if source == "activity" else 1
        assert sum(len(_lines(out, p.relative_to(out).as_posix())) - header for p in mine) == t["lines"], source
    extra = sum(m["defect_counts"].get(k, {}).get("activity", 0) for k in ("exact_duplicate", "redelivered_correction"))
    assert m["totals"]["activity"]["lines"] == users * days + extra
    seen = set()
    for e in m["defects"]:
        seen.add((e["kind"], e["source"]))
        lines = _lines(out, e["file"])
        if e["line"] is None:  # a whole CSV file with an extra column
            assert lines[0].endswith("," + e["field"]) and len(lines) - 1 == e["rows"]
            continue
        text = lines[e["line"] - 1]
        csv = e["source"] != "activity"
        uid = str(e["key"]["user_id"])
        if e["kind"] == "exact_duplicate":
            assert text == lines[e["duplicate_of"] - 1]
        elif e["kind"] == "malformed_line":
            if csv:
                assert len(text.split(",")) < 15
            else:
                try:
                    json.loads(text)
                    raise AssertionError("malformed line parses")
                except json.JSONDecodeError:
                    pass
        elif e["kind"] == "missing_user_id":
            assert text.startswith(",") if csv else json.loads(text).get("user_id") is None
        elif e["kind"] == "redelivered_correction":
            fixed = _lines(out, e["correction_file"])[e["correction_line"] - 1]
            for field, value in e["corrected"].items():
                assert _value(fixed, field, csv) == value
            for field, value in e["original"].items():
                assert _value(text, field, csv) == value
            assert e["correction_file"] > e["file"]  # the later path wins
        elif e["kind"] in ("wrong_type", "impossible_value", "future_date", "extra_column"):
            assert _value(text, e["field"], csv) in (e["value"], str(e["value"]))
        elif e["kind"] == "non_wear_day":
            if csv:
                row = text.split(",")
                assert row[2] == "0" and row[13] == "1440" and 1000 < int(row[14]) < 3500
            else:
                rec = json.loads(text)
                assert rec["steps"] == 0 and rec["heart_rate_avg"] is None
        if e["kind"] not in ("missing_user_id", "malformed_line"):
            assert uid in text
        assert e["expected"]
    assert {k for k, _ in seen} == set(KINDS)  # 5 % of 240 records per format: every kind shows up


def _source_of(path: Path) -> str:
    from fitlake.generate.formats import SOURCE_OF_FILE

    if path.suffix == ".json":
        return "activity"
    return SOURCE_OF_FILE[path.name.split("_merged")[0]]


def _value(line: str, field: str, csv: bool):
    if not csv:
        return json.loads(line).get(field)
    from fitlake.generate.formats import HEADERS

    header = HEADERS["dailyActivity"] + ["DeviceModel"]
    return line.split(",")[header.index(field)]


def _read(out: Path, stem: str) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p, dtype=str) for p in sorted(out.glob(f"fitbit/*/{stem}_merged.csv"))])


def test_daily_totals_equal_hourly_sums_and_formats_agree(tmp_path):
    out = tmp_path / "clean"
    generate_landing(out, users=25, days=3, seed=5, defect_rate=0.0, progress=False, workers=1)
    raw = (out / "fitbit/2023-04-01/hourlySteps_merged.csv").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") and b"4/1/2023 12:00:00 AM" in raw and b"4/1/2023 1:00:00 PM" in raw
    daily = _read(out, "dailyActivity").astype({c: float for c in ("TotalSteps", "Calories", "VeryActiveMinutes",
                                                                     "FairlyActiveMinutes", "LightlyActiveMinutes",
                                                                     "SedentaryMinutes")})
    daily["date"] = pd.to_datetime(daily["ActivityDate"], format="%m/%d/%Y")
    daily = daily.set_index(["Id", "date"]).sort_index()
    sums = {}
    for stem, col in (("hourlySteps", "StepTotal"), ("hourlyCalories", "Calories"),
                      ("hourlyIntensities", "TotalIntensity")):
        h = _read(out, stem)
        h["date"] = pd.to_datetime(h["ActivityHour"], format="%m/%d/%Y %I:%M:%S %p").dt.normalize()
        sums[col] = h.astype({col: float}).groupby(["Id", "date"])[col].sum().sort_index()
        assert h.groupby(["Id", "date"]).size().eq(24).all()
    assert len(daily) == 75
    np.testing.assert_array_equal(sums["StepTotal"].to_numpy(), daily["TotalSteps"].to_numpy())
    np.testing.assert_array_equal(sums["Calories"].to_numpy(), daily["Calories"].to_numpy())
    intensity = daily["LightlyActiveMinutes"] + 2 * daily["FairlyActiveMinutes"] + 3 * daily["VeryActiveMinutes"]
    np.testing.assert_array_equal(sums["TotalIntensity"].to_numpy(), intensity.to_numpy())
    minutes = daily[["VeryActiveMinutes", "FairlyActiveMinutes", "LightlyActiveMinutes", "SedentaryMinutes"]].sum(1)
    assert minutes.le(1440).all()
    # The subset files are exactly the dailyActivity columns, as in the real export.
    steps = _read(out, "dailySteps")
    assert steps["StepTotal"].astype(float).tolist() == _read(out, "dailyActivity")["TotalSteps"].astype(float).tolist()
    # Activity records agree with the Fitbit rows of the same user-day.
    act = pd.concat([pd.read_json(p, lines=True, dtype={"user_id": str})
                     for p in sorted(out.glob("activity/date=*/*.json"))])
    act["date"] = pd.to_datetime(act["date"])
    act = act.rename(columns={"user_id": "Id"}).set_index(["Id", "date"]).sort_index()
    np.testing.assert_array_equal(act["steps"].to_numpy(), daily["TotalSteps"].to_numpy())
    np.testing.assert_array_equal(act["calories_burned"].to_numpy(), daily["Calories"].to_numpy())
    np.testing.assert_allclose(act["distance_km"].to_numpy(), daily["TotalDistance"].astype(float).to_numpy(),
                               atol=1e-6)
    assert set(act["activity_type"]) <= {"walking", "running", "cycling", "swimming", "yoga", "gym_workout", "hiking"}
    sleep = _read(out, "sleepDay")
    sleep["date"] = pd.to_datetime(sleep["SleepDay"], format="%m/%d/%Y %I:%M:%S %p")
    joined = sleep.set_index(["Id", "date"]).join(act, how="inner")
    assert len(joined) == len(sleep) > 0
    assert (joined["sleep_hours"] * 60 - joined["TotalMinutesAsleep"].astype(float)).abs().max() <= 0.6
    assert (joined["TotalTimeInBed"].astype(int) >= joined["TotalMinutesAsleep"].astype(int)).all()


def test_personas_are_recoverable_from_activity_records(tmp_path):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    out = tmp_path / "personas"
    m = generate_landing(out, users=150, days=14, seed=3, defect_rate=0.0, progress=False, workers=1, fitbit=False)
    act = pd.concat([pd.read_json(p, lines=True) for p in sorted(out.glob("activity/date=*/*.json"))])
    shares = pd.crosstab(act["user_id"], act["activity_type"], normalize="index")
    means = act.groupby("user_id")[["steps", "calories_burned", "heart_rate_avg", "sleep_hours",
                                    "duration_minutes"]].mean()
    features = shares.join(means).fillna(0)
    labels = KMeans(5, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(features))
    truth = [m["personas"]["by_user"][str(u)] for u in features.index]
    ari = adjusted_rand_score(truth, labels)
    purity = pd.crosstab(labels, truth).max(axis=1).sum() / len(truth)
    print(f"persona recovery: ARI {ari:.2f}, purity {purity:.2f}")
    assert ari > 0.6 and purity > 0.8, (ari, purity)  # chance: ARI ~ 0, purity ~ 0.3
