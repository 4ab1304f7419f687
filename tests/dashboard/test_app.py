"""Every page in Streamlit's AppTest: on the fixture lakehouse, on an empty root, and with tables missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from deltalake import DeltaTable
from streamlit.testing.v1 import AppTest

import fitlake.dashboard
from fitlake.config import TABLES, Settings

# the shared fixture lakehouse trains and logs three Spark ML models (minutes on a busy machine): make test, not
# make test-fast
pytestmark = pytest.mark.e2e

APP = str(Path(fitlake.dashboard.__file__).with_name("app.py"))
PAGES = ["pages/home.py", "pages/data_overview.py", "pages/wellness.py", "pages/personas.py",
         "pages/predictions.py", "pages/realtime.py", "pages/completeness.py"]
TIMEOUT = 120


def run_page(monkeypatch, root: Path, page: str) -> AppTest:
    monkeypatch.setenv("FITLAKE_ROOT", str(root))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if page != "pages/home.py":
        at.switch_page(page)
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _pandas(settings: Settings, layer: str, name: str):
    return DeltaTable(settings.table(layer, name).path).to_pandas()


@pytest.mark.parametrize("page", PAGES)
def test_empty_root_says_run_make_run(monkeypatch, empty_root, page):
    at = run_page(monkeypatch, empty_root, page)
    assert_clean(at)
    assert any("make run" in i.value and str(empty_root) in i.value for i in at.info)


def test_home_shows_freshness_row_counts_and_quarantine(monkeypatch, lakehouse):
    at = run_page(monkeypatch, lakehouse.root, "pages/home.py")
    assert_clean(at)
    freshness, quarantine = at.dataframe[0].value, at.dataframe[1].value
    assert len(freshness) == sum(len(v) for v in TABLES.values())
    windows = freshness.set_index(["layer", "table"]).loc[("gold", "event_windows")]
    assert (windows["version"], windows["rows"]) == (1, len(_pandas(lakehouse, "gold", "event_windows")))
    expected = _pandas(lakehouse, "quarantine", "activity")["_rule"].value_counts()
    assert dict(zip(quarantine["rule"], quarantine["rows"])) == expected.to_dict()
    assert metrics(at)["Quarantined rows"] == str(int(expected.sum()))


def test_data_overview_browses_filters_schema_and_history(monkeypatch, lakehouse):
    at = run_page(monkeypatch, lakehouse.root, "pages/data_overview.py")
    assert_clean(at)
    at.selectbox[0].select("gold").run()
    at.selectbox[1].select("fact_sleep").run()
    user = int(_pandas(lakehouse, "gold", "fact_sleep")["user_id"].iloc[0])
    at.multiselect[0].select(user).run()
    assert_clean(at)
    rows, schema, history = (d.value for d in at.dataframe)
    assert set(rows["user_id"]) == {user} and len(rows) == 14
    assert "sleep_efficiency" in set(schema["column"])
    assert history["operation"].tolist() == ["WRITE"]


def test_wellness_numbers_are_the_tables_numbers(monkeypatch, lakehouse):
    at = run_page(monkeypatch, lakehouse.root, "pages/wellness.py")
    assert_clean(at)
    wellness = _pandas(lakehouse, "gold", "kpi_wellness_daily")
    sleep = _pandas(lakehouse, "gold", "fact_sleep")
    shown = metrics(at)
    assert shown["Mean wellness score (all user-days)"] == f"{wellness['wellness_score'].mean():.1f}"
    assert shown["Nights"] == f"{sleep['sleep_efficiency'].notna().sum():,}"  # the 0-minutes-in-bed night is out
    moves = at.dataframe[0].value
    assert int(moves.to_numpy().sum()) == wellness["user_id"].nunique()


def test_personas_page_reads_the_registered_kmeans(monkeypatch, lakehouse):
    at = run_page(monkeypatch, lakehouse.root, "pages/personas.py")
    assert_clean(at)
    sizes, centroids = at.dataframe[0].value, at.dataframe[1].value
    assert sizes["users"].sum() == _pandas(lakehouse, "gold", "user_personas")["user_id"].nunique()
    assert len(centroids) == 3 and "avg_steps" in centroids.columns
    assert not any("silhouette per k" in i.value for i in at.info)


def test_live_predictions_predict_with_the_champions(spark, monkeypatch, lakehouse):
    """The AppTest runs in this process, so the page's Spark is the test session."""
    at = run_page(monkeypatch, lakehouse.root, "pages/predictions.py")
    assert_clean(at)
    activity_type = next(s for s in at.selectbox if s.label.startswith("activity_type"))
    assert set(activity_type.options) == set(_pandas(lakehouse, "silver", "activity")["activity_type"])
    at.button[0].click().run()
    assert_clean(at)
    predicted = metrics(at)["Predicted activity type"]
    assert predicted in set(_pandas(lakehouse, "silver", "activity")["activity_type"])
    agreement = at.dataframe[0].value
    scored = _pandas(lakehouse, "gold", "predicted_activity_type")
    assert agreement["records"].sum() == len(scored)
    assert agreement["predicted_same"].sum() == (scored["actual_activity_type"] == scored["predicted_activity_type"]).sum()
    recs = at.dataframe[1].value
    assert len(recs) == 3 and recs["rank"].tolist() == [1, 2, 3]


def test_realtime_shows_latest_window_and_alerts(monkeypatch, lakehouse):
    at = run_page(monkeypatch, lakehouse.root, "pages/realtime.py")
    assert_clean(at)
    windows = _pandas(lakehouse, "gold", "event_windows")
    newest = windows[windows["window_end"] == windows["window_end"].max()]
    shown = metrics(at)
    assert shown["Steps in it"] == f"{int(newest['steps'].sum()):,}"
    assert shown["Alerts"] == str(len(_pandas(lakehouse, "gold", "goal_alerts")))


def test_missing_streaming_and_model_tables_are_said_per_panel(monkeypatch, tmp_path):
    """A lakehouse where only batch gold exists: the streaming and ML panels say so, nothing raises."""
    from dashboard_fixture import build_tables

    settings = Settings(root=tmp_path / "lakehouse")
    build_tables(settings)
    for name in ("event_windows", "goal_alerts"):
        shutil.rmtree(settings.table("gold", name).path)
    for page, expected in (("pages/realtime.py", "gold.event_windows"),
                           ("pages/personas.py", "gold.user_personas"),
                           ("pages/predictions.py", "fitlake_activity")):
        at = run_page(monkeypatch, settings.root, page)
        assert_clean(at)
        assert any(expected in w.value for w in at.warning), (page, [w.value for w in at.warning])


def test_completeness_counts_each_input_and_flags_the_incomplete_days(monkeypatch, lakehouse):
    from dashboard_fixture import INCOMPLETE_DAY

    at = run_page(monkeypatch, lakehouse.root, "pages/completeness.py")
    assert_clean(at)
    table = _pandas(lakehouse, "gold", "data_completeness")
    shown = metrics(at)
    assert shown["User-days"] == f"{len(table):,}" and shown["Complete"] == f"{int(table['is_complete'].sum()):,}"
    assert shown["Quarantined rows"] == "2"
    per_input = at.table[0].value.set_index("input")
    later_days = int((table["hourly_complete_hours"] < 24).sum())
    assert per_input.loc["hourly_steps", "days_missing"] == later_days  # 8 users x 12 days without hourly data
    assert (per_input.loc["sleep_day", "days_missing"], per_input.loc["activity", "days_quarantined"]) == (1, 2)
    gaps = at.table[1].value.set_index("gap")["user_days"]
    assert gaps.loc["missing: sleep_day"] == 1 and gaps.sum() == int((~table["is_complete"]).sum())
    user, day = INCOMPLETE_DAY
    flags = at.dataframe[0].value.set_index(["user_id", "date"])["flags"]
    assert flags.loc[(user, day)] == "missing: sleep_day"
    at.multiselect[0].select(1503960366).run()
    assert_clean(at)
    assert metrics(at)["Quarantined rows"] == "1"


def test_a_root_the_reader_cannot_open_says_why_and_how_to_fix_it(monkeypatch, tmp_path):
    root = tmp_path / "back\\slash" / "lakehouse"
    root.mkdir(parents=True)
    at = run_page(monkeypatch, root, "pages/home.py")
    assert not at.exception, [e.value for e in at.exception]
    assert any("backslash" in e.value and "fitlake dashboard --root" in e.value for e in at.error), at.error
