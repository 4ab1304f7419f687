"""Independent per-table work of one stage, run side by side on one Spark application.

Most of a small table's time in silver or gold is fixed cost that leaves the two cores idle: planning, code
generation, a Delta snapshot, a commit, a streaming query's start and its checkpoint files. Tables that do not read
each other can overlap those waits. Each worker thread may get its own ``SparkSession`` (``newSession``: same
SparkContext, catalog and cache, its own SQL conf), so a session-level setting one table needs — Delta's
idempotent-MERGE ``txnAppId``/``txnVersion`` — never leaks into another table's commit.

``FITLAKE_PARALLEL_TABLES`` (``Settings.parallel_tables``, default 3) bounds the threads; 1 runs everything in the
caller's thread, in order, exactly as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_concurrently(
    items: Sequence[T],
    work: Callable[[T], R],
    workers: int,
    on_done: Callable[[T, R], None] | None = None,
    after: Callable[[T], Iterable[T]] | None = None,
) -> list[R]:
    """``[work(item) for item in items]`` with up to ``workers`` threads; results in the order of ``items``.

    ``after(item)``: the items that must finish before ``item`` starts (others are ignored); an item starts as soon as
    those have, the first ready one in ``items`` order first (put the longest first). Without it every item is ready.
    ``on_done(item, result)`` runs in the caller's thread as each item finishes (progress lines). When an item
    fails, the items already started still finish (their commits are whole), no new item starts, and the first
    failure in ``items`` order is raised.
    """
    items = list(items)
    needs = [{k for d in (after(item) if after else ()) for k, x in enumerate(items) if x is d or x == d} - {i}
             for i, item in enumerate(items)]
    results: dict[int, R] = {}
    errors: dict[int, BaseException] = {}
    queue = list(range(len(items)))

    def next_ready() -> int | None:
        ready = next((i for i in queue if needs[i] <= results.keys()), None)
        if ready is None and queue and not errors and (workers <= 1 or not pending):
            raise ValueError(f"items wait for each other in a cycle: {[items[i] for i in queue]}")
        if ready is not None:
            queue.remove(ready)
        return ready

    pending: dict[Future, int] = {}
    if workers <= 1 or len(items) <= 1:
        while queue:
            i = next_ready()
            results[i] = work(items[i])
            if on_done is not None:
                on_done(items[i], results[i])
        return [results[i] for i in range(len(items))]

    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="fitlake-table") as pool:
        def submit_next() -> None:
            while queue and len(pending) < workers and not errors:
                i = next_ready()
                if i is None:
                    return
                pending[pool.submit(work, items[i])] = i

        submit_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                try:
                    results[i] = future.result()
                except BaseException as e:  # noqa: BLE001 - re-raised below, after the running items finish
                    errors[i] = e
                    continue
                if on_done is not None:
                    on_done(items[i], results[i])
            submit_next()
    if errors:
        raise errors[min(errors)]
    return [results[i] for i in range(len(items))]


class Background:
    """``fn()`` in a thread that inherits the calling thread's Spark local properties (its job group: a stream
    batch's Spark jobs are counted and cancelled with it); ``join`` waits and raises what ``fn`` raised. Where no such
    thread can be made (a session without a SparkContext), ``fn`` runs right away in the caller's thread."""

    def __init__(self, fn: Callable[[], None]):
        self.error: BaseException | None = None
        self.thread = None
        self.finished = False
        self._joined = False

        def run() -> None:
            try:
                fn()
                self.finished = True
            except BaseException as e:  # re-raised by join, in the calling thread
                self.error = e

        try:
            from pyspark import InheritableThread

            self.thread = InheritableThread(target=run, daemon=True)
        except Exception:
            run()
            return
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
        if self._joined:
            return
        self._joined = True
        if self.error is not None:
            raise self.error
        if not self.finished:  # the thread died before or around fn (e.g. copying the local properties)
            raise RuntimeError("the background work did not run (its thread died before it); nothing of it was done")


_local = threading.local()


def thread_session(spark):
    """A session of its own for the calling worker thread (``spark`` itself in the main thread)."""
    if threading.current_thread() is threading.main_thread():
        return spark
    cached = getattr(_local, "sessions", None)
    if cached is None:
        cached = _local.sessions = {}
    key = id(spark)
    if key not in cached:
        cached[key] = spark.newSession()
    return cached[key]
