"""Fault-injection hook for the kill -9 tests: jobs call ``fault_point(name)`` at their stage boundaries.

Why in the product code: a kill at a *named* point (between ingest and silver, before a table's MERGE, after a
commit but before the next one) is reproducible, a random sleep is not. With no ``FITLAKE_FAULT_*`` variable set
it costs one dict lookup.

- ``FITLAKE_FAULT_KILL_AT=<glob>[@<n>]``: SIGKILL the job at the n-th (default 1st) point whose name matches
  the glob, e.g. ``silver:merge:activity``. When the job leads its own process group (the tests start it with
  ``start_new_session=True``) the whole group dies at once, JVM included, as with ``kill -9 -<pgid>``; otherwise
  only this process (never a caller's group, e.g. pytest's).
- ``FITLAKE_FAULT_TRACE=1``: print ``FITLAKE_FAULT_POINT <name>`` to stderr at each point, so a test can list
  the points of an uninterrupted run, or kill from outside a random delay after a chosen point.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import sys

KILL_ENV = "FITLAKE_FAULT_KILL_AT"
TRACE_ENV = "FITLAKE_FAULT_TRACE"
TRACE_PREFIX = "FITLAKE_FAULT_POINT "

_hits: dict[str, int] = {}


def parse_kill_spec(spec: str) -> tuple[str, int]:
    """``"silver:*@2"`` -> ``("silver:*", 2)``."""
    pattern, _, nth = spec.partition("@")
    return pattern, int(nth) if nth else 1


def fault_point(name: str) -> None:
    """Mark a point where a crash must be survivable; may kill the process when a test asks for it."""
    env = os.environ
    if TRACE_ENV not in env and KILL_ENV not in env:
        return
    if env.get(TRACE_ENV):
        print(f"{TRACE_PREFIX}{name}", file=sys.stderr, flush=True)
    spec = env.get(KILL_ENV)
    if not spec:
        return
    pattern, nth = parse_kill_spec(spec)
    if fnmatch.fnmatchcase(name, pattern):
        _hits[pattern] = _hits.get(pattern, 0) + 1
        if _hits[pattern] == nth:
            sys.stdout.flush()
            sys.stderr.flush()
            if os.getpgid(0) == os.getpid():
                os.killpg(os.getpid(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
