"""kill -9 the batch job at random points, resume it, and prove nothing was lost or duplicated; two concurrent runs
on one lakehouse: the second fails fast (or waits) with a clear message and the tables stay consistent.

Cost control (each `fitlake run` subprocess pays a JVM start): the baseline is the session's shared run of
fixtures/landing (tests/baselines.py: in the test session's Spark, holding the real run lock while a `fitlake run` on
the same lakehouse must fail at once and another must wait and give up; a rerun with nothing new must change
nothing). Then ONE chain on a fresh lakehouse: `fitlake run`
(a subprocess: Python + JVM in their own process group, killed together) is killed at point 1, its rerun at point
2, ... point N, and a final resume (in-process) completes.
Points are progress lines of the baseline (a stage starting/ending, one table finished) plus a random delay, so a
kill lands between tables or inside the next table's ingest / MERGE; they are chosen in job order, so every resumed
run gets further. The seed is printed (``FITLAKE_FAULTS_SEED`` replays it); ``FITLAKE_FAULTS_LONG=1`` runs several
chains with more points each (the benchmark's long mode).
"""

from __future__ import annotations

import os
import random
import subprocess

import pytest

from baselines import LANDING, NOT_COMPARED, delta_versions, fixture_landing_baseline, run_in_process
from fault_jobs import REPO, KillPoint, choose_kill_points, job_env, progress_prefixes, run_argv, run_job
from lake_snapshot import diff, duplicated_keys, snapshot

pytestmark = pytest.mark.slow

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


def _seed() -> int:
    return int(os.environ.get("FITLAKE_FAULTS_SEED") or random.SystemRandom().randrange(1_000_000))


@pytest.fixture(scope="module")
def baseline(request):
    """One uninterrupted run; while it holds the lock, a second run must fail at once and a third must wait for
    the lock (3 s) and then give up with the same clear message. Then a rerun on the same input. Built once per
    session and shared (tests/baselines.py): read-only here."""
    if not LANDING.is_dir():
        pytest.skip("fixtures/landing is missing (written by fixtures/make_fixtures.py)")
    return fixture_landing_baseline(request)


def test_baseline_has_no_duplicate_keys(baseline):
    assert baseline["snapshot"], "the baseline run wrote no tables"
    assert duplicated_keys(baseline["root"], NATURAL_KEYS) == {}


def test_concurrent_run_fails_fast_with_a_clear_message(baseline):
    rival = baseline["rival"]
    assert rival.returncode == 2, rival.stderr[-2000:]
    assert "another fitlake run holds" in rival.stderr and "_run.lock" in rival.stderr
    assert "Traceback" not in rival.stderr
    assert baseline["rival_s"] < 60, "the loser must fail before starting Spark"


def test_waiting_run_waits_for_the_lock_then_says_so(baseline):
    waiter = baseline["waiter"]
    assert waiter.returncode == 2, waiter.stderr[-2000:]
    assert "another fitlake run holds" in waiter.stderr
    assert baseline["waiter_s"] >= 3


def test_rerun_on_the_same_input_changes_nothing(baseline):
    """Same rows, and not one commit on any bronze/silver/quarantine/gold table (the baseline's rerun with nothing
    new, between its two deliveries); and nobody changed the shared lakehouse since it was built."""
    rerun = baseline["rerun"]
    assert rerun["snapshot_before"] and diff(rerun["snapshot_before"], rerun["snapshot_after"]) == []
    assert rerun["versions_before"] and rerun["versions_after"] == rerun["versions_before"]
    assert delta_versions(baseline["root"]) == baseline["versions"]


def test_noop_run_answers_without_starting_spark(baseline, tmp_path):
    """`fitlake run` on an up-to-date lakehouse decides "nothing new" from the landing listing, the state files and
    the Delta logs (no JVM: no "Spark ready" line), commits nothing, and exits 0; one new landing file, or a
    silver table behind its bronze table, makes it run again."""
    import shutil

    from fitlake.config import Settings
    from fitlake.pipeline import is_up_to_date

    root = tmp_path / "lake"  # the shared baseline stays read-only: this test runs on (and edits) a copy
    shutil.copytree(baseline["root"], root, symlinks=True)
    out = subprocess.run(run_argv(root, LANDING), capture_output=True, text=True, env=job_env(), cwd=REPO, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "nothing new" in out.stdout and "Spark ready" not in out.stdout, out.stdout[-3000:]
    assert delta_versions(root) == baseline["versions"]

    settings = Settings(root=root, landing=LANDING)
    assert is_up_to_date(settings)
    landing = tmp_path / "landing"
    shutil.copytree(LANDING, landing)
    extra = next(landing.glob("fitbit/*/dailySteps_merged*.csv"))
    shutil.copy2(extra, extra.with_name("dailySteps_merged (9).csv"))
    assert not is_up_to_date(Settings(root=root, landing=landing))
    assert is_up_to_date(Settings(root=root, landing=landing), ["silver", "gold"])
    seen = root / "_checkpoints" / "silver" / "daily_steps" / "_fitlake_bronze_version"
    kept = seen.read_text()
    try:
        seen.write_text("-1\n")
        assert not is_up_to_date(settings, ["silver"])
    finally:
        seen.write_text(kept)


# Any path the OS allows works as lakehouse root and landing (tests/pipeline/test_pipeline_paths.py has the unit
# checks): the chain runs on such a root and landing, so every `fitlake run` of it starts its JVM with the root in
# ``spark.driver.extraJavaOptions`` and creates its tables at LOCATIONs with these characters (this was a
# `fitlake run` of its own, ~50 s of the suite).
HOSTILE = "my lake's \"data\" `tick` back\\slash \u00fc"


def test_kill9_at_random_points_then_resume_loses_and_duplicates_nothing(spark, baseline, tmp_path):
    import shutil

    seed = _seed()
    rng = random.Random(seed)
    prefixes = progress_prefixes(baseline["stdout"])
    assert len(prefixes) >= KILL_POINTS, baseline["stdout"]
    print(f"\nkill -9 seed {seed} (replay: FITLAKE_FAULTS_SEED={seed}); {len(prefixes)} candidate points")
    base = tmp_path / HOSTILE
    landing = base / "landing 'in' \"here\""
    shutil.copytree(LANDING, landing)
    for chain in range(CHAINS):
        root = base / f"chain{chain}" / "lake \u00fc"
        points = choose_kill_points(prefixes, KILL_POINTS, rng, MAX_DELAY_S)
        landed = 0
        for point in points:
            result = run_job(run_argv(root, landing), kill=point)
            print(f"  chain {chain}: {point}: {'killed' if result.killed else 'finished first'} "
                  f"after {result.seconds:.1f} s")
            if not result.killed:
                assert result.returncode == 0, "\n".join(result.stdout[-30:]) + result.stderr[-3000:]
                assert "Traceback" not in result.stderr, result.stderr[-3000:]
            landed += result.killed
        run_in_process(spark, root, landing)  # the resume that completes; in-process saves a JVM start
        for table in ("silver/activity", "silver/daily_activity", "silver/sleep_day", "gold/fact_daily_activity"):
            assert (root / table / "_delta_log").is_dir(), table  # at the hostile root, by its LOCATION
        # read from a plain-named copy: delta-rs takes the backslash in a path for a separator (a link is resolved)
        plain = tmp_path / f"chain{chain}-plain"
        shutil.copytree(root, plain, symlinks=True)
        problems = diff(baseline["snapshot"], snapshot(plain, skip=NOT_COMPARED, landing=landing))
        assert problems == [], f"seed {seed}, chain {chain}, points {[str(p) for p in points]}:\n" + "\n".join(problems)
        assert duplicated_keys(plain, NATURAL_KEYS) == {}
        assert landed >= MIN_KILLS, f"only {landed} of {len(points)} kills landed (seed {seed})"


def test_kill_points_follow_job_order():
    prefixes = ["[ingest]", "  bronze  bronze.activity:", "[silver]", "  silver  silver.activity:", "[gold]"]
    points = choose_kill_points(prefixes, 3, random.Random(1), 1.0)
    order = [prefixes.index(p.line_prefix) for p in points]
    assert order == sorted(order) and len(set(order)) == 3
    assert all(isinstance(p, KillPoint) and 0 <= p.delay_s <= 1.0 for p in points)


def test_fault_point_kills_at_the_nth_matching_point_only():
    """The hook itself, without Spark: a child passes three points and must die at the 2nd ``silver:*``."""
    import sys

    code = ("from fitlake.faults import fault_point\n"
            "for p in ('ingest:done', 'silver:activity', 'silver:sleep_day'):\n"
            "    print(p, flush=True); fault_point(p)\n"
            "print('survived', flush=True)\n")
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env=job_env(FITLAKE_FAULT_KILL_AT="silver:*@2", FITLAKE_FAULT_TRACE="1"),
                            start_new_session=True)
    assert killed.returncode == -9
    assert killed.stdout.split() == ["ingest:done", "silver:activity", "silver:sleep_day"]
    assert "FITLAKE_FAULT_POINT silver:sleep_day" in killed.stderr
    untouched = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                               env=job_env(FITLAKE_FAULT_KILL_AT="gold:*"))
    assert untouched.returncode == 0 and untouched.stdout.split()[-1] == "survived"
