"""Run `fitlake run` as a real subprocess (its own process group: Python + the JVM) and kill -9 it at a chosen
point: a progress line it prints, a commit it makes, or a named ``fault_point``."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class KillPoint:
    """Kill ``delay_s`` after the first stdout line starting with ``line_prefix`` or any of ``later_prefixes``
    (points after it in job order: a resumed run may skip work that is already done), or, with ``commit_of``,
    after the first new commit of that table, e.g. ``silver/activity``."""

    line_prefix: str | None = None
    later_prefixes: tuple[str, ...] = ()
    commit_of: str | None = None
    delay_s: float = 0.0

    def matches(self, line: str) -> bool:
        return any(line.startswith(p) for p in (self.line_prefix, *self.later_prefixes) if p)

    def __str__(self) -> str:
        what = f"line {self.line_prefix.strip()!r}" if self.line_prefix else f"commit of {self.commit_of}"
        return f"{what} + {self.delay_s:.2f}s"


@dataclass
class JobResult:
    returncode: int
    killed: bool
    stdout: list[str] = field(default_factory=list)
    stderr: str = ""
    seconds: float = 0.0


def job_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("FITLAKE_JARS_DIR", str(REPO / ".cache" / "jars"))
    env["FITLAKE_SHUFFLE_PARTITIONS"] = env.get("FITLAKE_SHUFFLE_PARTITIONS", "2")
    env["FITLAKE_DRIVER_MEMORY"] = env.get("FITLAKE_DRIVER_MEMORY", "1g")
    # ETL only (run, bundle ingest/silver/gold): C1-only JIT, 13-17 % less CPU for a short-lived JVM
    # (benchmarks/results/README.md); never for `train` (MLlib overflowed C1's stacks)
    env.setdefault("FITLAKE_JIT", "c1")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_argv(root: Path, landing: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fitlake.cli", "run", "--root", str(root), "--landing", str(landing),
            "--no-generate", *extra]


def _commit_count(root: Path, table: str) -> int:
    log = root / table / "_delta_log"
    return len([p for p in log.glob("*.json") if p.stem.isdigit()]) if log.is_dir() else 0


def run_job(argv: list[str], kill: KillPoint | None = None, env: dict | None = None, timeout: float = 600) -> JobResult:
    """Run to completion, or kill -9 the whole process group at ``kill``."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                            env=env or job_env(), start_new_session=True, cwd=REPO)
    lines: list[str] = []
    err_chunks: list[str] = []
    fired = threading.Event()
    killed = threading.Event()

    def kill_later() -> None:
        time.sleep(kill.delay_s)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
                killed.set()
            except ProcessLookupError:
                pass

    def fire() -> None:
        if not fired.is_set():
            fired.set()
            threading.Thread(target=kill_later, daemon=True).start()

    def read_err() -> None:
        err_chunks.append(proc.stderr.read())

    err_thread = threading.Thread(target=read_err, daemon=True)
    err_thread.start()
    watcher = None
    if kill is not None and kill.commit_of:
        root = Path(argv[argv.index("--root") + 1])
        base = _commit_count(root, kill.commit_of)

        def watch() -> None:
            while proc.poll() is None and not fired.is_set():
                if _commit_count(root, kill.commit_of) > base:
                    fire()
                    return
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if kill is not None and kill.matches(line):
            fire()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    err_thread.join(timeout=10)
    # the JVM may outlive a Python that died first: never leave a writer behind
    try:
        os.killpg(proc.pid, signal.SIGKILL) if killed.is_set() else None
    except ProcessLookupError:
        pass
    return JobResult(proc.returncode, killed.is_set(), lines, "".join(err_chunks), time.monotonic() - started)


def progress_prefixes(stdout: list[str]) -> list[str]:
    """The line prefixes of an uninterrupted run that mark a point in the job: a stage start/end or one table
    done (e.g. ``"  silver  silver.activity:"``), in the order they were printed."""
    out: list[str] = []
    for line in stdout:
        if line.startswith("[") and line.endswith("]"):
            prefix = line
        elif line.startswith("  ") and ":" in line:
            prefix = line.split(":", 1)[0] + ":"
        else:
            continue
        if prefix not in out:
            out.append(prefix)
    return out


def choose_kill_points(prefixes: list[str], n: int, rng: random.Random, max_delay_s: float) -> list[KillPoint]:
    """``n`` points in job order (so each resumed run gets further), each with a random delay after its line."""
    picks = sorted(rng.sample(range(len(prefixes)), min(n, len(prefixes))))
    return [KillPoint(line_prefix=prefixes[i], later_prefixes=tuple(prefixes[i + 1:]),
                      delay_s=round(rng.uniform(0, max_delay_s), 2)) for i in picks]
