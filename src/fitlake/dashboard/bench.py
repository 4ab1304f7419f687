"""Benchmark hook: time to first render of Home, as a user opening the dashboard sees it."""

from __future__ import annotations

import os
import time

from fitlake.dashboard.browser import FRESHNESS_JS, Chromium, dashboard_server


def home_render_seconds(browser: Chromium, base: str, timeout: float = 120.0) -> float:
    """Seconds from navigating to Home until its freshness table is in the DOM."""
    started = time.perf_counter()
    browser.open(f"{base}/")
    browser.wait_for(FRESHNESS_JS, timeout, "the freshness table on Home")
    return time.perf_counter() - started


def measure_home_first_render(root: str | os.PathLike, timeout: float = 120.0) -> float:
    """Start ``fitlake dashboard`` on ``root`` and a headless Chromium (not timed), then time the first Home render:
    the first session pays the page imports and reads every Delta log with cold caches."""
    with dashboard_server(root, timeout=timeout) as base, Chromium() as browser:
        return home_render_seconds(browser, base, timeout)
