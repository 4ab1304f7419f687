"""Expensive runs built ONCE per pytest session and shared by every test (and every xdist worker) that needs them.

The pytest-xdist pattern: the result lives under the session's common temp folder (``getbasetemp().parent`` on a
worker, ``getbasetemp()`` without xdist); an exclusive ``flock`` on a lock file beside it makes the first worker
that asks build it while any other waits, then reads what was built. Each result is keyed on exactly what it was
built from (a hash of every input file's path and bytes plus the settings that change the run), so a test can never
read a run built from other input. Readers must not modify a shared result: copy it first.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

# the environment the pipeline reads (tests/conftest.py sets them for the whole session)
_KEYED_ENV = ("FITLAKE_DATE_ORDER", "FITLAKE_SHUFFLE_PARTITIONS")


def session_dir(tmp_path_factory) -> Path:
    """The folder every xdist worker of this session shares (the per-session temp folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def input_key(*inputs: Path, **settings) -> str:
    """A hash of every file under ``inputs`` (files or folders: relative path + bytes), the keyed environment and ``settings``."""
    h = hashlib.sha256()
    for top in inputs:
        top = Path(top)
        h.update(f"input {top.name}\0".encode())
        files = [top] if top.is_file() else [p for p in top.rglob("*") if p.is_file()]
        for path in sorted(files):
            h.update((path.relative_to(top).as_posix() if path != top else top.name).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    for name in _KEYED_ENV:
        h.update(f"{name}={os.environ.get(name)}\0".encode())
    for name, value in sorted(settings.items()):
        h.update(f"{name}={value!r}\0".encode())
    return h.hexdigest()[:16]


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_build(tmp_path_factory, name: str, key: str, build: Callable[[Path], dict]) -> dict:
    """``build(folder)`` once per session for ``(name, key)``; every later call (any worker) gets its result.

    ``build`` writes what it makes under ``folder`` and returns a picklable dict; the result gets ``folder`` under
    ``"dir"``. A build that raised leaves nothing behind, so the next caller builds again (and fails the same way).
    """
    top = session_dir(tmp_path_factory) / "fitlake-shared" / f"{name}-{key}"
    done = top / "result.pkl"
    with _locked(top.parent / f"{name}-{key}.lock"):
        if not done.is_file():
            if top.exists():
                shutil.rmtree(top)
            folder = top / "built"
            folder.mkdir(parents=True)
            result = build(folder)
            tmp = done.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(result))
            tmp.rename(done)
        result = pickle.loads(done.read_bytes())
    result["dir"] = top / "built"
    return result
