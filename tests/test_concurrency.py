"""fitlake.concurrency: order kept, failures raised after the running items finish; gold's build waves."""

from __future__ import annotations

import threading
import time

import pytest

from fitlake.concurrency import Background, run_concurrently


def test_results_keep_item_order_and_work_overlaps():
    active, peak, lock = [0], [0], threading.Lock()

    def work(i):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05 * (3 - i % 3))
        with lock:
            active[0] -= 1
        return i * 10

    done = []
    assert run_concurrently(range(6), work, 3, lambda i, r: done.append(i)) == [0, 10, 20, 30, 40, 50]
    assert sorted(done) == list(range(6))
    assert peak[0] == 3


def test_one_worker_runs_in_order_in_the_callers_thread():
    seen = []
    out = run_concurrently(["a", "b"], lambda x: seen.append((x, threading.current_thread().name)) or x, 1)
    assert out == ["a", "b"]
    assert [t for _, t in seen] == [threading.current_thread().name] * 2


def test_first_failure_in_item_order_is_raised_after_running_items_finish():
    finished = []

    def work(i):
        if i in (1, 2):
            time.sleep(0.05 if i == 1 else 0)
            raise ValueError(f"item {i}")
        time.sleep(0.1)
        finished.append(i)
        return i

    with pytest.raises(ValueError, match="item 1"):
        run_concurrently(range(5), work, 3)
    assert 0 in finished  # started before the failures: completed, not abandoned


def test_gold_builders_come_after_the_gold_tables_they_read():
    from fitlake.gold.job import BUILDERS, GOLD_INPUTS, build_waves

    waves = build_waves(BUILDERS)
    wave_of = {b.table: i for i, wave in enumerate(waves) for b in wave}
    assert sorted(wave_of) == sorted(b.table for b in BUILDERS)
    for table, inputs in GOLD_INPUTS.items():
        assert all(wave_of[dep] < wave_of[table] for dep in inputs), table
    assert len(waves) == 3  # facts; dims, engagement, data_completeness; the KPIs flagged from data_completeness


def test_background_raises_its_error_in_the_calling_thread_once_and_keeps_the_job_group(spark):
    sc = spark.sparkContext
    sc.setJobGroup("fitlake-test-group", "background")
    try:
        seen = {}
        ok = Background(lambda: seen.update(group=sc.getLocalProperty("spark.jobGroup.id")))
        ok.join()
        assert ok.finished and seen == {"group": "fitlake-test-group"}  # its Spark jobs count with the batch's

        def fail() -> None:
            raise ValueError("append failed")

        failed = Background(fail)
        with pytest.raises(ValueError, match="append failed"):
            failed.join()
        failed.join()  # the error is raised once: a finally that joins again does not mask the first
    finally:
        for prop in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            sc.setLocalProperty(prop, None)
