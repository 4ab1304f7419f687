"""The build-once-per-session helper the expensive suites share (tests/shared_runs.py): one build across processes,
keyed on every input byte, nothing half-built left behind."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from shared_runs import input_key, shared_build


class _Factory:
    """Just the part of pytest's tmp_path_factory that shared_build uses."""

    def __init__(self, base):
        self.base = base

    def getbasetemp(self):
        return self.base


def _build_in_child(base, counter_dir, out):
    def build(folder):
        (counter_dir / f"built-{multiprocessing.current_process().pid}").write_text("1")
        time.sleep(0.5)  # the other process arrives while this one builds
        (folder / "table").write_text("rows")
        return {"value": 42}

    result = shared_build(_Factory(base), "demo", "k1", build)
    out.put((result["value"], (result["dir"] / "table").read_text()))


def test_two_processes_build_once_and_both_read_the_result(tmp_path):
    counter = tmp_path / "counter"
    counter.mkdir()
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_build_in_child, args=(tmp_path / "session", counter, out)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(out.get(timeout=5) for _ in procs) == [(42, "rows"), (42, "rows")]
    assert len(list(counter.iterdir())) == 1  # built by one process only


def test_the_key_changes_with_any_input_byte_or_name(tmp_path):
    landing = tmp_path / "landing"
    (landing / "a").mkdir(parents=True)
    (landing / "a" / "f.csv").write_text("Id,Steps\n1,2\n")
    key = input_key(landing)
    assert input_key(landing) == key and len(key) == 16
    (landing / "a" / "f.csv").write_text("Id,Steps\n1,3\n")
    changed = input_key(landing)
    assert changed != key
    (landing / "a" / "f.csv").rename(landing / "a" / "g.csv")
    assert input_key(landing) not in (key, changed)
    assert input_key(landing, step_goal=40) != input_key(landing)


def test_a_failed_build_leaves_nothing_and_the_next_caller_builds_again(tmp_path):
    factory = _Factory(tmp_path / "session")

    def broken(folder):
        (folder / "half").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        shared_build(factory, "demo", "k2", broken)
    result = shared_build(factory, "demo", "k2", lambda folder: {"ok": not (folder / "half").exists()})
    assert result["ok"]
