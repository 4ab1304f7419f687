"""kill -9 in the middle of a micro-batch, rerun: every table equals the one of an uninterrupted run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from chispa import assert_df_equality

from fitlake.config import Settings
from streaming_helpers import ALERT_COLUMNS, U1, U2, WINDOW_COLUMNS, event, read_table, run_available_now, write_events

GOAL = 150


def deliveries() -> list[list[dict]]:
    """Four files of in-order events (every 10 s, both users) plus re-deliveries of earlier events."""
    files, n = [], 0
    for f in range(4):
        batch = []
        for i in range(5):
            second = n * 10
            user, kind = (U1, "walking") if n % 3 else (U2, "running")
            batch.append(event(f"e{n}", user, f"08:{second // 60:02d}:{second % 60:02d}", 20 + n, 80 + n,
                               activity_type=kind))
            n += 1
        if f >= 2:
            batch.append(files[0][f])  # a duplicate delivery of an event from the first file
        files.append(batch)
    return files


def land(settings: Settings) -> None:
    for i, batch in enumerate(deliveries()):  # one file per minute, in order: batch k = file k
        write_events(settings.landing_dir, f"part-{i:05d}.json", batch, mtime=1_680_336_000 + 60 * i)


def tables(spark, settings):
    return {
        "windows": read_table(spark, settings, "gold", "event_windows").select(*WINDOW_COLUMNS),
        "alerts": read_table(spark, settings, "gold", "goal_alerts").select(*ALERT_COLUMNS),
        "silver": read_table(spark, settings, "silver", "events").select("event_id", "event_time", "steps"),
        "bronze": read_table(spark, settings, "bronze", "events").select("event_id", "_line"),
    }


@pytest.mark.slow
def test_kill_9_mid_batch_then_rerun_equals_an_uninterrupted_run(spark, tmp_path):
    uninterrupted = Settings(root=tmp_path / "uninterrupted", step_goal=GOAL)
    land(uninterrupted)
    run_available_now(spark, uninterrupted, max_files_per_trigger=1)

    killed = Settings(root=tmp_path / "killed", step_goal=GOAL)
    land(killed)
    env = {"FITLAKE_JIT": "c1",  # a stream, no training: C1's less CPU (tests/faults/fault_jobs.job_env)
           **os.environ, "FITLAKE_FAULT_KILL_AT": "stream:ingest:silver@2", "FITLAKE_DRIVER_MEMORY": "1g"}
    proc = subprocess.run(
        [sys.executable, "-m", "fitlake.cli", "stream", "--root", str(killed.root), "--available-now",
         "--max-files-per-trigger", "1", "--step-goal", str(GOAL)],
        env=env, capture_output=True, text=True, timeout=600, start_new_session=True,
    )
    # SIGKILLed in batch 2, after its bronze append and before its silver MERGE.
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert read_table(spark, killed, "bronze", "events").count() == 10  # files 1 and 2 are in bronze ...
    assert read_table(spark, killed, "silver", "events").count() == 5  # ... only file 1 reached silver

    rerun = run_available_now(spark, killed, max_files_per_trigger=1)
    assert rerun["queries"]["ingest"]["batches"] == 3  # the killed batch again (never committed), then 3 and 4

    expected, actual = tables(spark, uninterrupted), tables(spark, killed)
    assert expected["windows"].count() > 0 and expected["alerts"].count() == 2
    for name in expected:
        assert_df_equality(actual[name], expected[name], ignore_row_order=True, ignore_nullable=True)
