"""Measurement plumbing shared by the benchmarks: timed subprocesses with the peak memory of their process tree,
and a description of the machine the numbers came from."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def fitlake_command() -> list[str]:
    """The `fitlake` CLI of this interpreter's environment (works without the console script on PATH)."""
    return [sys.executable, "-m", "fitlake.cli"]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may hold spaces/parens: fields after the last ')' are fixed
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (the JVM is a grandchild of `fitlake run`), from one walk of /proc."""
    tree = _children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def tree_rss_bytes(pids: list[int]) -> int:
    """Resident memory of ``pids`` (see ``tree_pids``)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            pass
    return total


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) so far of each of ``pids``."""
    out = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        out[p] = (int(fields[11]) + int(fields[12])) / TICK
    return out


@dataclass
class ProcResult:
    argv: list[str]
    returncode: int
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str
    samples: int = field(default=0)
    cpu_s: float = field(default=0.0)  # user + system of the process tree, last sample of each process

    def check(self, log_dir: Path | None = None) -> "ProcResult":
        """Raise on a non-zero exit, naming the first exception line (a JVM stack's tail says nothing) and, with
        ``log_dir``, the file that keeps the whole output."""
        if self.returncode != 0:
            text = f"{self.stdout or ''}\n{self.stderr or ''}"
            first = next((ln.strip() for ln in text.splitlines()
                          if re.search(r"(Error|Exception)\b.*:", ln) and not ln.lstrip().startswith("at ")), "")
            where = ""
            if log_dir is not None:
                Path(log_dir).mkdir(parents=True, exist_ok=True)
                log = Path(log_dir) / f"failed-{time.strftime('%Y%m%dT%H%M%S')}.log"
                log.write_text(f"$ {' '.join(self.argv)}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}\n")
                where = f" (whole output: {log})"
            tail = "\n".join((self.stderr or self.stdout).splitlines()[-30:])
            raise RuntimeError(f"{' '.join(self.argv)} exited {self.returncode}: {first[:500]}{where}\n{tail}")
        return self


@contextlib.contextmanager
def sampling_tree(pid: int, cpu: dict[int, float], poll_s: float = 0.2, on_sample=None):
    """While the block runs, sample the CPU seconds of ``pid``'s process tree every ``poll_s`` into ``cpu`` (per
    pid, the largest seen: a process that exits keeps its last figure); ``on_sample(pids)`` sees each sample's
    processes (peak memory, process names)."""
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            pids = tree_pids(pid)
            for p, c in tree_cpu_seconds(pids).items():
                cpu[p] = max(cpu.get(p, 0.0), c)
            if on_sample is not None:
                on_sample(pids)
            stop.wait(poll_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield cpu
    finally:
        stop.set()
        sampler.join()


def run_measured(argv: list[str], env: dict | None = None, cwd: str | Path | None = None, poll_s: float = 0.2,
                 timeout: float | None = None) -> ProcResult:
    """Run ``argv`` to completion; wall time includes interpreter and JVM start. Peak RSS = max over samples
    of the summed RSS of the process tree (sampling every ``poll_s``; a sub-``poll_s`` spike can be missed)."""
    full_env = {**os.environ, **(env or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                            cwd=cwd, start_new_session=True)
    peak, samples = 0, 0
    cpu: dict[int, float] = {}

    def memory(pids) -> None:
        nonlocal peak, samples
        peak = max(peak, tree_rss_bytes(pids))
        samples += 1

    with sampling_tree(proc.pid, cpu, poll_s, memory):
        out, err = proc.communicate(timeout=timeout)
    wall = time.perf_counter() - start
    return ProcResult(argv, proc.returncode, wall, peak / 2**20, out, err, samples, round(sum(cpu.values()), 1))


def delta_rows(table) -> int:
    """Rows in a Delta table's current snapshot (a path or a ``deltalake.DeltaTable``), from the log's file
    statistics: no data read."""
    from deltalake import DeltaTable

    if not isinstance(table, DeltaTable):
        table = DeltaTable(str(table))
    actions = table.get_add_actions(flatten=True)
    return int(sum(v or 0 for v in actions.column("num_records").to_pylist()))


def cpu_probe_s(repeats: int = 5) -> float:
    """Seconds a fixed single-threaded workload takes here (compressing and hashing 8 MB of fixed bytes, then a
    million-step Python loop), the fastest of ``repeats``; lower is faster. This is a shared virtual machine whose
    speed moves with the hour: the same commit's B1 1x has taken from 284.5 s to 403.4 s on different hours of
    one day, with nothing else running. The probe, taken at a run's start and end, says how fast the machine
    was while its figures were measured, so runs of different hours can be told apart."""
    import hashlib
    import zlib

    data = bytes(range(256)) * (8 << 12)  # 8 MB
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        zlib.compress(data, 6)
        hashlib.sha256(data).digest()
        total = 0
        for i in range(1_000_000):
            total += i * i
        best = min(best, time.perf_counter() - t0)
    return round(best, 3)


def machine() -> dict:
    """Where the numbers came from: they mean little without it."""
    import importlib.metadata as md

    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for pkg in ("fitlake", "pyspark", "delta-spark", "deltalake", "duckdb", "pyarrow", "mlflow"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    java = None
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        java = (out.stderr or out.stdout).splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        pass
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 2**20, 1),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": java,
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_probe_s": cpu_probe_s(),
        "versions": versions,
    }


class Timer:
    """``with Timer() as t: ...; t.s`` — wall seconds of a block."""

    def __enter__(self) -> "Timer":
        self._t0 = time.perf_counter()
        self.s = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.s = time.perf_counter() - self._t0
