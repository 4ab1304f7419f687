"""The Model monitoring page in headless Chromium, on a lakehouse holding only gold.model_monitoring (written with
``deltalake``, no JVM): one model whose latest batch drifted and one whose did not. Same harness as
test_browser.py (``make chromium``; ``FITLAKE_SKIP_BROWSER=1`` skips it locally)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from fitlake.dashboard import browser

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _monitoring_table(settings) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    t0 = dt.datetime(2024, 5, 1, 6, 0, tzinfo=dt.timezone.utc)
    rows = []
    for batch, (hour, steps_psi) in enumerate(((0, 0.02), (24, 2.31))):
        due = steps_psi > 0.25
        for feature, value in (("total_steps", steps_psi), ("sedentary_minutes", 0.01)):
            rows.append((f"b{batch}", "fitlake_calories_fitbit", "1", "input_psi", feature, value, 0.0, 0.25,
                         value > 0.25, 470, None, None, due, t0 + dt.timedelta(hours=hour)))
        rows.append((f"b{batch}", "fitlake_calories_fitbit", "1", "rolling_mae", "mae", 140.0 + 400 * batch, 139.2,
                     208.8, batch == 1, 470, dt.date(2024, 4, 18), dt.date(2024, 5, 1), due,
                     t0 + dt.timedelta(hours=hour)))
    rows.append(("c0", "fitlake_activity", "2", "prediction_psi", "predicted_activity_type", 0.03, 0.0, 0.25, False,
                 900, None, None, False, t0))
    names = ["batch_id", "model_name", "model_version", "metric", "feature", "value", "baseline", "threshold",
             "drifted", "rows", "window_start", "window_end", "retrain_due", "_monitored_at"]
    types = [pa.string()] * 5 + [pa.float64()] * 3 + [pa.bool_(), pa.int64(), pa.date32(), pa.date32(),
                                                      pa.bool_(), pa.timestamp("us", tz="UTC")]
    table = pa.table({n: pa.array([r[i] for r in rows], type=t) for i, (n, t) in enumerate(zip(names, types))})
    write_deltalake(settings.table("gold", "model_monitoring").path, table)


def test_monitoring_page_shows_the_retrain_that_is_due(tmp_path):
    if os.environ.get("FITLAKE_SKIP_BROWSER") == "1":
        pytest.skip("FITLAKE_SKIP_BROWSER=1")
    binary = browser.chromium_binary()
    assert binary, "chromium not found: run `make chromium` (or set FITLAKE_SKIP_BROWSER=1 to skip locally)"
    from fitlake.config import Settings

    settings = Settings(root=tmp_path / "lakehouse")
    _monitoring_table(settings)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with browser.dashboard_server(settings.root, log_path=tmp_path / "server.log") as base:
        with browser.Chromium(binary) as page:
            page.open(f"{base}/monitoring")
            page.wait_rendered(90)
            title = page.evaluate("document.querySelector('[data-testid=\"stMain\"] h1')?.innerText")
            text = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').innerText")
            errors = page.errors()
            shot = page.screenshot(SHOTS / "monitoring.png")
    assert title == "Model monitoring" and errors == [], errors
    assert "fitlake_calories_fitbit v1" in text and "fitlake_activity v2" in text
    assert "Retrain due: input_psi total_steps 2.310 > 0.250; rolling_mae mae 540.000 > 208.800" in text
    assert "No drift in the latest batch (900 rows)" in text
    assert shot.stat().st_size > 20_000
