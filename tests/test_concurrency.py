"""fitlake.concurrency: order kept, failures raised after the running items finish; gold builders after the tables they read."""

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


def test_an_item_starts_only_after_the_items_it_waits_for_and_as_soon_as_they_finish():
    events = []
    gate = threading.Event()

    def work(x):
        events.append(("start", x))
        if x == "slow":
            gate.wait(10)
        if x == "a":
            gate.set()  # "slow" ends only after "a" started: "a" did not wait for "slow"
        events.append(("end", x))
        return x.upper()

    waits = {"b": ["slow"], "a": ["fast"], "c": ["a", "b"]}
    out = run_concurrently(["slow", "fast", "a", "b", "c"], work, 2, after=lambda x: waits.get(x, []))
    assert out == ["SLOW", "FAST", "A", "B", "C"]
    for item, deps in waits.items():
        assert all(events.index(("end", d)) < events.index(("start", item)) for d in deps), item
    assert events.index(("start", "a")) < events.index(("end", "slow"))  # no waves: "a" ran beside "slow"
    # one worker: in order, each after what it waits for
    assert run_concurrently(["c", "b", "a"], lambda x: x, 1, after=lambda x: {"c": ["a"]}.get(x, [])) == ["c", "b", "a"]
    with pytest.raises(ValueError, match="cycle"):
        run_concurrently(["x", "y"], lambda x: x, 2, after=lambda x: ["y" if x == "x" else "x"])


def test_gold_builders_start_after_the_gold_tables_they_read():
    from fitlake.gold.job import BUILDERS, GOLD_INPUTS, LONGEST_CHAIN, gold_inputs, schedule

    order = schedule(BUILDERS)
    assert sorted(b.table for b in order) == sorted(b.table for b in BUILDERS)
    assert [b.table for b in order[:len(LONGEST_CHAIN)]] == list(LONGEST_CHAIN)
    for b in BUILDERS:
        assert sorted(x.table for x in gold_inputs(b, order)) == sorted(GOLD_INPUTS.get(b.table, ()))
    started = []

    def one(b):
        for dep in gold_inputs(b, order):
            assert dep.table in started, (b.table, dep.table)
        time.sleep(0.01)
        started.append(b.table)  # after its own work: "finished"

    run_concurrently(order, one, 3, after=lambda b: gold_inputs(b, order))
    assert sorted(started) == sorted(b.table for b in BUILDERS)


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
