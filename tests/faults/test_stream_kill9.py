"""kill -9 `fitlake stream` inside a micro-batch (after its bronze append, before quarantine / silver / alerts), restart
it, and compare bronze, quarantine, silver events, 30 s windows and goal alerts with an uninterrupted run.

The kill points are the streaming job's own ``fault_point`` names (``FITLAKE_FAULT_KILL_AT=<name>@<n>``: the n-th
time it passes there), picked at random from the list below; the seed is printed (``FITLAKE_FAULTS_SEED``
replays it). Batches are two files each so a kill lands with earlier batches committed and later ones pending.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from fault_jobs import REPO, job_env, run_job
from lake_snapshot import diff, duplicated_keys, snapshot

pytestmark = pytest.mark.slow

EVENTS = REPO / "fixtures" / "events"
FILES_PER_BATCH = 2
POINTS = ("stream:ingest:bronze@2", "stream:ingest:quarantine@1", "stream:ingest:quarantine@3",
          "stream:ingest:silver@2", "stream:ingest:done@1", "stream:alerts:merge@1")
KILLS = len(POINTS) if os.environ.get("FITLAKE_FAULTS_LONG") == "1" else 2
STREAM_TABLES = ("bronze.events", "quarantine.events", "silver.events", "gold.event_windows", "gold.goal_alerts")


def _stream_argv(root: Path, landing: Path) -> list[str]:
    import sys

    return [sys.executable, "-m", "fitlake.cli", "stream", "--available-now", "--root", str(root), "--landing",
            str(landing), "--max-files-per-trigger", str(FILES_PER_BATCH)]


def _only_stream(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if k in STREAM_TABLES}


@pytest.fixture(scope="module")
def events_landing(tmp_path_factory) -> Path:
    if not EVENTS.is_dir():
        pytest.skip("fixtures/events is missing")
    landing = tmp_path_factory.mktemp("stream_landing")
    shutil.copytree(EVENTS, landing / "events")
    return landing


def test_stream_kill9_then_restart_matches_an_uninterrupted_run(spark, events_landing, tmp_path):
    from fitlake.config import Settings
    from fitlake.streaming.job import StreamOptions, run_stream

    base_root = tmp_path / "baseline"
    run_stream(spark, Settings(root=base_root, landing=events_landing),
               StreamOptions(available_now=True, max_files_per_trigger=FILES_PER_BATCH), poll_seconds=0.1)
    expected = _only_stream(snapshot(base_root))
    assert expected.get("silver.events"), "the baseline stream wrote no events"

    seed = int(os.environ.get("FITLAKE_FAULTS_SEED") or random.SystemRandom().randrange(1_000_000))
    points = random.Random(seed).sample(POINTS, KILLS)
    print(f"\nstream kill -9 seed {seed}: {points}")
    root = tmp_path / "killed"
    landed = 0
    for point in points:  # each restart resumes the previous one's checkpoint
        result = run_job(_stream_argv(root, events_landing), env=job_env(FITLAKE_FAULT_KILL_AT=point))
        landed += result.returncode == -9
        assert result.returncode in (0, -9), result.stderr[-3000:]
    assert landed == len(points), f"seed {seed}: only {landed} of {points} kills happened"
    final = run_job(_stream_argv(root, events_landing))
    assert final.returncode == 0, final.stderr[-3000:]
    problems = diff(expected, _only_stream(snapshot(root)))
    assert problems == [], f"seed {seed}, points {points}:\n" + "\n".join(problems)
    assert duplicated_keys(root, {"silver.events": ("event_id",), "gold.goal_alerts": ("user_id", "date")}) == {}
