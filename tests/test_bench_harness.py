"""The bench harness measures a command's whole process tree: the JVM is a grandchild of `fitlake run`."""

from __future__ import annotations

import sys

from benchmarks.harness import run_measured

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6:\n    pass\n"


def test_cpu_and_memory_of_a_grandchild_are_counted():
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BURN!r}], check=True)"
    res = run_measured([sys.executable, "-c", child], poll_s=0.05).check()
    assert res.cpu_s >= 0.5  # the grandchild's 0.6 s of CPU (the parent itself uses far less)
    assert res.peak_rss_mb > 1 and res.samples > 0
