"""The session's one shared run of fixtures/landing, built once per pytest session (any xdist worker; ``shared_runs``)
and read by every suite that compares against it. Keyed on every byte of fixtures/landing.

fixtures/landing is delivered in two parts on an empty lakehouse: days 1-3 (``fitlake run``, while it holds the real
run lock a `fitlake run` on the same lakehouse must fail at once and another must wait for the lock (3 s) and give
up), a rerun with nothing new (must commit nothing, on any bronze/silver/quarantine/gold table), then day 4. Its end
state is the uninterrupted run the other suites compare with: the kill -9 chain (tests/faults/test_kill9.py), `fitlake
bundle run fitlake_batch --target local` (tests/bundle/test_batch_job_equals_run.py) and the dev target on the
stand-in workspace (tests/bundle/test_standin_run.py) each load all of fixtures/landing at once, and must end with
the same rows (bronze's ``_source_file`` compared landing-relative: ``lake_snapshot.snapshot(landing=...)``); the
end-to-end checks (tests/pipeline/test_pipeline_fixture_landing.py) and maintain/forget (tests/ops/
test_maintain_forget.py) read its two deliveries. One build instead of two: it was also built as one uninterrupted
run of its own (~100 CPU s), whose rows were the same (checked table by table on 2026-11-30: 36 tables, 0 rows
differ). Read-only for its readers: a test that changes anything copies it first (``copy_incremental``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "faults"))

from benchmarks.incremental_profile import LAST_DAY, stage_landing  # noqa: E402 - one staging for both
from fault_jobs import REPO, job_env, run_argv  # noqa: E402
from lake_snapshot import delta_tables, snapshot  # noqa: E402
from shared_runs import input_key, shared_build  # noqa: E402

LANDING = REPO / "fixtures" / "landing"
# The run log records every run (killed ones never get to write theirs): it is history, not data.
NOT_COMPARED = ("ops.run_log",)


def delta_versions(root: Path) -> dict[str, int]:
    out = {}
    for log in Path(root).glob("*/*/_delta_log"):
        if log.parent.parent.name == "ops":
            continue
        commits = [int(p.stem) for p in log.glob("*.json") if p.stem.isdigit()]
        out[f"{log.parent.parent.name}.{log.parent.name}"] = max(commits)
    return out


def forget_catalog(spark) -> None:
    """Drop the session catalog's entries (metadata only: every table is external, the Delta folders stay): the
    pytest session is shared by lakehouses under different roots, and ``CREATE TABLE IF NOT EXISTS gold.x
    LOCATION ...`` keeps pointing at the first root that registered ``gold.x``."""
    for db in ("bronze", "silver", "quarantine", "gold", "ops"):
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")


def run_in_process(spark, root: Path, landing: Path = LANDING) -> list[str]:
    """`fitlake run` minus its JVM start: the same lock and stages, in the test session's Spark."""
    from fitlake.config import Settings
    from fitlake.pipeline import run_lock, run_pipeline

    lines: list[str] = []
    forget_catalog(spark)
    with run_lock(root, 0):
        run_pipeline(spark, Settings(root=root, landing=landing), say=lines.append)
    return lines


def table_paths(root: Path, layers: tuple[str, ...]) -> dict[str, Path]:
    return delta_tables(root, layers)


# ---- the incremental baseline: fixtures/landing delivered as days 1-3, a no-op rerun, then day 4 ----------------------
# (days 1-3 and day 4 staged by benchmarks.incremental_profile.stage_landing, the profile's own staging)


def _timed_in_thread(argv: list[str], env: dict):
    """Start ``argv`` now (in a thread: subprocess.run with a timeout); the returned call waits for it and gives
    ``(CompletedProcess, seconds from start to exit)``."""
    import threading

    out: dict = {}

    def target() -> None:
        t0 = time.monotonic()
        try:
            out["proc"] = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
        except BaseException as e:  # re-raised in the caller
            out["error"] = e
        out["seconds"] = time.monotonic() - t0

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def result():
        thread.join()
        if "error" in out:
            raise out["error"]
        return out["proc"], out["seconds"]

    return result


def _build_incremental(spark, folder: Path) -> dict:
    from fitlake.config import TABLES, Settings
    from fitlake.pipeline import run_lock, run_pipeline
    from fitlake.silver.merge import table_version

    def versions(settings):  # as tests/pipeline/pipeline_support.versions
        return {f"{layer}.{name}": table_version(None, settings.table(layer, name))
                for layer in ("silver", "quarantine", "gold") for name in TABLES[layer]}

    settings = Settings(root=folder / "lakehouse", landing=folder / "landing")
    root, landing = settings.root, settings.landing_dir
    runs = []

    def run():
        lines: list[str] = []
        report = run_pipeline(spark, settings, say=lines.append)
        report.lines = lines
        runs.append(report)

    forget_catalog(spark)
    stage_landing(landing, last_day=False)
    env = job_env()
    with run_lock(root, 0):  # the real run lock, held as `fitlake run` holds it
        # The rival and the waiter run while the first delivery runs in this process, under the same lock: neither
        # starts Spark, so their Python start and the waiter's 3 s overlap the run instead of adding to it. The lock
        # is released only after both have exited (the threads are joined inside the ``with``).
        rival = _timed_in_thread(run_argv(root, landing), env)
        waiter = _timed_in_thread(run_argv(root, landing, "--lock-timeout", "3"), env)
        run()
        (rival, rival_s), (waiter, waiter_s) = rival(), waiter()
    v1, all_v1 = versions(settings), delta_versions(root)
    before_rerun = snapshot(root, skip=NOT_COMPARED)
    run()  # nothing new: must commit nothing (test_pipeline_fixture_landing, test_kill9)
    v2, all_v2 = versions(settings), delta_versions(root)
    after_rerun = snapshot(root, skip=NOT_COMPARED)
    stage_landing(landing, last_day=True)
    run()
    forget_catalog(spark)  # the next test of this worker registers its own roots
    return {"root": root, "landing": landing, "runs": runs, "v1": v1, "v2": v2,
            # the rerun with nothing new, every bronze/silver/quarantine/gold table (test_kill9)
            "rerun": {"versions_before": all_v1, "versions_after": all_v2, "snapshot_before": before_rerun,
                      "snapshot_after": after_rerun},
            "rival": rival, "rival_s": rival_s, "waiter": waiter, "waiter_s": waiter_s,
            # the end state, as the uninterrupted run of all of fixtures/landing
            "snapshot": snapshot(root, skip=NOT_COMPARED, landing=landing), "versions": delta_versions(root),
            "stdout": runs[0].lines}


def fixture_landing_incremental(request) -> dict:
    """fixtures/landing in two deliveries on an empty lakehouse (days 1-3; a rerun with nothing new; day 4), built
    once per session and shared: the end-to-end checks (tests/pipeline/test_pipeline_fixture_landing.py) and the
    maintain/forget lakehouse (tests/ops/test_maintain_forget.py, which streams the events onto a copy) read it.
    Read-only: ``copy_incremental`` gives a test its own copy (the lakehouse and its landing; bronze's state names
    landing files by landing-relative path, so the copy's runs see the same files as already ingested). A reader
    that did not build it starts no Spark session for it."""
    return shared_build(request.getfixturevalue("tmp_path_factory"), "fixture-landing-incremental",
                        input_key(LANDING, incremental_last_day=LAST_DAY),
                        lambda folder: _build_incremental(request.getfixturevalue("spark"), folder))


def fixture_landing_baseline(request) -> dict:
    """The session's run of fixtures/landing as the uninterrupted run the kill -9 chain and the bundle runs compare
    with (the module doc): its end state ``root`` (read-only), ``snapshot`` (landing-relative: compare with
    ``snapshot(root, skip=NOT_COMPARED, landing=LANDING)``), ``versions``, the lock checks' ``rival``/``waiter``,
    the no-op ``rerun`` and ``stdout``, the progress lines of its first run (every stage and table, in job order)."""
    return fixture_landing_incremental(request)


def copy_incremental(request, target: Path) -> dict:
    """A private copy of the incremental baseline under ``target``: {"root", "landing", "runs", "v1", "v2"}."""
    import shutil

    built = fixture_landing_incremental(request)
    root, landing = target / "lakehouse", target / "landing"
    shutil.copytree(built["root"], root, symlinks=True)
    shutil.copytree(built["landing"], landing, symlinks=True)
    return {**built, "root": root, "landing": landing}
