"""End to end: ``fitlake dashboard`` on the fixture lakehouse, every page opened in headless Chromium, screenshots
kept under test-artifacts/screenshots/ (CI uploads the folder). Fails, not skips, without chromium
(``make chromium``); ``FITLAKE_SKIP_BROWSER=1`` skips it locally."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fitlake.dashboard import bench, browser

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots"
TITLES = {"home": "fitlake", "data_overview": "Data overview", "wellness": "Wellness & KPIs",
          "personas": "Personas & EDA", "predictions": "Live predictions", "realtime": "Real-time",
          "completeness": "Data completeness"}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def chromium():
    if os.environ.get("FITLAKE_SKIP_BROWSER") == "1":
        pytest.skip("FITLAKE_SKIP_BROWSER=1")
    binary = browser.chromium_binary()
    assert binary, "chromium not found: run `make chromium` (or set FITLAKE_SKIP_BROWSER=1 to skip locally)"
    return binary


def test_every_page_renders_without_errors(chromium, lakehouse):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with browser.dashboard_server(lakehouse.root, log_path=SHOTS / "server.log") as base:
        with browser.Chromium(chromium) as page:
            first_home = bench.home_render_seconds(page, base)
            (SHOTS / "home_first_render_seconds.txt").write_text(f"{first_home:.2f}\n")
        report = browser.capture_pages(base, SHOTS)
    assert first_home > 0
    assert set(report) == set(TITLES)
    for name, result in report.items():
        assert result["errors"] == [], (name, result["errors"])
        assert result["title"] == TITLES[name]
        shot = Path(result["screenshot"])
        assert shot.stat().st_size > 20_000, f"{shot} looks empty"
    # the completeness page shows the flags of a day the fixture knows is incomplete, and the counts per input
    from dashboard_fixture import INCOMPLETE_DAY

    text = report["completeness"]["text"]
    user, day = INCOMPLETE_DAY
    assert f"{day:%Y-%m-%d} · user {user}: missing: sleep_day\n" in text + "\n", text
    assert "2023-04-02 · user 1503960366: quarantined: activity (1 rows)" in text, text
