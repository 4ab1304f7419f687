"""kill -9 the batch job at random points, resume it, and prove nothing was lost or duplicated; two concurrent runs
on one lakehouse: the second fails fast (or waits) with a clear message and the tables stay consistent.

Cost control (each `fitlake run` pays a JVM start): ONE uninterrupted baseline run, during which a second run on
the same lakehouse must fail at once and a third must wait for the lock and then find nothing to do; then ONE chain
on a fresh lakehouse: run 1 is killed at point 1, its rerun at point 2, ... point N, and a final rerun completes.
Points are progress lines of the baseline (a stage starting/ending, one table finished) plus a random delay, so a
kill lands between tables or inside the next table's ingest / MERGE; they are chosen in job order, so every resumed
run gets further. The seed is printed (``FITLAKE_FAULTS_SEED`` replays it); ``FITLAKE_FAULTS_LONG=1`` runs several
chains with more points each (the benchmark's long mode).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from jobs import REPO, KillPoint, choose_kill_points, job_env, progress_prefixes, run_argv, run_job
from lake_snapshot import diff, duplicated_keys, snapshot

pytestmark = pytest.mark.slow

LANDING = REPO / "fixtures" / "landing"
LONG = os.environ.get("FITLAKE_FAULTS_LONG") == "1"
CHAINS = 4 if LONG else 1
KILL_POINTS = 10 if LONG else 6  # per chain; a kill whose run finished first does not count
MIN_KILLS = 8 if LONG else 5  # per chain
MAX_DELAY_S = 1.0

NATURAL_KEYS = {
    "silver.activity": ("user_id", "date"),
    "silver.daily_activity": ("user_id", "activity_date"),
    "silver.daily_steps": ("user_id", "activity_date"),
    "silver.daily_calories": ("user_id", "activity_date"),
    "silver.daily_intensities": ("user_id", "activity_date"),
    "silver.sleep_day": ("user_id", "sleep_date"),
    "silver.hourly_steps": ("user_id", "activity_hour"),
    "silver.hourly_calories": ("user_id", "activity_hour"),
    "silver.hourly_intensities": ("user_id", "activity_hour"),
    "silver.heartrate_seconds": ("user_id", "time"),
    "silver.weight_log": ("user_id", "log_id"),
    "bronze.activity": ("_source_file", "_line"),
    "bronze.daily_activity": ("_source_file", "_line"),
    "bronze.hourly_steps": ("_source_file", "_line"),
    "gold.fact_daily_activity": ("user_id", "date"),
    "gold.fact_sleep": ("user_id", "date"),
    "gold.fact_hourly_activity": ("user_id", "activity_hour"),
    "gold.kpi_wellness_daily": ("user_id", "date"),
    "gold.kpi_engagement_daily": ("user_id", "date"),
    "gold.dim_user": ("user_id",),
    "gold.dim_date": ("date_key",),
}
# The run log records every run (killed ones never get to write theirs): it is history, not data.
NOT_COMPARED = ("ops.run_log",)


def _seed() -> int:
    return int(os.environ.get("FITLAKE_FAULTS_SEED") or random.SystemRandom().randrange(1_000_000))


def _delta_versions(root: Path) -> dict[str, int]:
    out = {}
    for log in root.glob("*/*/_delta_log"):
        if log.parent.parent.name == "ops":
            continue
        out[f"{log.parent.parent.name}.{log.parent.name}"] = max(int(p.stem) for p in log.glob("*.json"))
    return out


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """One uninterrupted run, with a concurrent run that must fail fast and one that must wait, then no-op."""
    if not LANDING.is_dir():
        pytest.skip("fixtures/landing is missing (written by fixtures/make_fixtures.py)")
    root = tmp_path_factory.mktemp("baseline") / "lake"
    env = job_env()
    main = subprocess.Popen(run_argv(root, LANDING), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, env=env, start_new_session=True, cwd=REPO)
    lines = []
    for line in main.stdout:  # the lock is held from before this line until the run ends
        lines.append(line.rstrip("\n"))
        if line.startswith("fitlake run: lakehouse"):
            break
    t0 = time.monotonic()
    rival = subprocess.run(run_argv(root, LANDING), capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    rival_seconds = time.monotonic() - t0
    waiter = subprocess.Popen(run_argv(root, LANDING, "--lock-timeout", "900"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True, cwd=REPO)
    lines += [line.rstrip("\n") for line in main.stdout]
    assert main.wait(timeout=900) == 0, "\n".join(lines[-40:])
    after_main = snapshot(root, skip=NOT_COMPARED)
    versions_after_main = _delta_versions(root)
    waiter_out = waiter.communicate(timeout=900)[0]
    return {
        "root": root, "stdout": lines, "rival": rival, "rival_seconds": rival_seconds, "waiter": waiter,
        "waiter_out": waiter_out, "snapshot": after_main, "versions": versions_after_main,
    }


def test_baseline_has_no_duplicate_keys(baseline):
    assert baseline["snapshot"], "the baseline run wrote no tables"
    assert duplicated_keys(baseline["root"], NATURAL_KEYS) == {}


def test_concurrent_run_fails_fast_with_a_clear_message(baseline):
    rival = baseline["rival"]
    assert rival.returncode != 0
    assert "another fitlake run holds" in rival.stderr and "_run.lock" in rival.stderr
    assert "Traceback" not in rival.stderr
    assert baseline["rival_seconds"] < 60, "the loser must not start Spark before failing"


def test_waiting_run_then_finds_nothing_to_change(baseline):
    """The run that waited for the lock is a rerun on the same input: same rows, and no table gets a commit."""
    assert baseline["waiter"].returncode == 0, baseline["waiter_out"][-3000:]
    root = baseline["root"]
    assert diff(baseline["snapshot"], snapshot(root, skip=NOT_COMPARED)) == []
    assert _delta_versions(root) == baseline["versions"]


def test_kill9_at_random_points_then_resume_loses_and_duplicates_nothing(baseline, tmp_path):
    seed = _seed()
    rng = random.Random(seed)
    prefixes = progress_prefixes(baseline["stdout"])
    assert len(prefixes) >= KILL_POINTS, baseline["stdout"]
    print(f"\nkill -9 seed {seed} (replay: FITLAKE_FAULTS_SEED={seed}); {len(prefixes)} candidate points")
    for chain in range(CHAINS):
        root = tmp_path / f"chain{chain}" / "lake"
        points = choose_kill_points(prefixes, KILL_POINTS, rng, MAX_DELAY_S)
        landed = 0
        for point in points:
            result = run_job(run_argv(root, LANDING), kill=point)
            print(f"  chain {chain}: {point}: {'killed' if result.killed else 'finished first'} "
                  f"after {result.seconds:.1f} s")
            if not result.killed:
                assert result.returncode == 0, "\n".join(result.stdout[-30:]) + result.stderr[-3000:]
            landed += result.killed
        final = run_job(run_argv(root, LANDING))
        assert final.returncode == 0, "\n".join(final.stdout[-40:]) + final.stderr[-3000:]
        problems = diff(baseline["snapshot"], snapshot(root, skip=NOT_COMPARED))
        assert problems == [], f"seed {seed}, chain {chain}, points {[str(p) for p in points]}:\n" + "\n".join(problems)
        assert duplicated_keys(root, NATURAL_KEYS) == {}
        assert landed >= MIN_KILLS, f"only {landed} of {len(points)} kills landed (seed {seed})"


def test_kill_points_follow_job_order():
    prefixes = ["[ingest]", "  bronze  bronze.activity:", "[silver]", "  silver  silver.activity:", "[gold]"]
    points = choose_kill_points(prefixes, 3, random.Random(1), 1.0)
    order = [prefixes.index(p.line_prefix) for p in points]
    assert order == sorted(order) and len(set(order)) == 3
    assert all(isinstance(p, KillPoint) and 0 <= p.delay_s <= 1.0 for p in points)
