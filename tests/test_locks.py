"""fitlake.locks: the one file lock behind `fitlake run`, `maintain`, `forget` and `fitlake stream`."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from fitlake.locks import file_lock

HOLD = """
import sys, time
from fitlake.locks import file_lock
with file_lock(sys.argv[1], 0, RuntimeError):
    print("held", flush=True)
    time.sleep(30)
"""


class Busy(Exception):
    pass


def test_a_second_holder_is_refused_with_the_first_ones_pid_then_gets_it_after_release(tmp_path):
    path = tmp_path / "sub" / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Busy, match=f"pid {holder.pid}"):
            with file_lock(path, 0, lambda who: Busy(who)):
                pass
        started = time.monotonic()
        with pytest.raises(Busy):
            with file_lock(path, 0.5, lambda who: Busy(who)):
                pass
        assert time.monotonic() - started >= 0.5  # waited for the timeout before giving up
    finally:
        holder.kill()
        holder.wait()
    with file_lock(path, 0, lambda who: Busy(who)):  # released when its holder died
        assert path.read_text().startswith("pid ")
