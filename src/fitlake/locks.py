"""One lock per lakehouse and job kind: ``flock`` on a file under the root (local targets only; on Databricks a
job's ``max_concurrent_runs: 1`` is the lock)."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path, timeout: float, busy: Callable[[str], Exception]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created with its folder), waiting up to ``timeout`` seconds; when another
    process still holds it, raise ``busy(holder)``, where ``holder`` is what that process wrote (its pid)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    f.seek(0)
                    raise busy(f.read().strip() or "another process") from None
                time.sleep(0.2)
        try:
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()}\n")
            f.flush()
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
