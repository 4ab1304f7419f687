"""A/B of JVM settings on `fitlake run` over the real export, from empty: for each arm, wall time, the CPU seconds of
the whole process tree and of each process (the Python driver vs the JVM), arms alternating round by round so a
busy machine weighs on all of them alike. One JSON line per run on stdout.

    python -m benchmarks.jvm_ab WORKDIR ROUNDS 'before=FITLAKE_CDS=off FITLAKE_GC=g1 FITLAKE_JIT=full' 'after='

An arm is ``name=`` followed by environment assignments (space-separated) for its runs: fitlake's own knobs
(FITLAKE_JIT, FITLAKE_GC, FITLAKE_CDS) or FITLAKE_JAVA_OPTIONS (more driver JVM options, e.g.
``'x=FITLAKE_JAVA_OPTIONS=-XX:CompileThresholdScaling=4'``: one option per arm, the arm's text is split on spaces). The JVM's process shows as ``bash`` (Spark's launcher
script execs java). Wall times only compare on a quiet machine; CPU seconds hold up better on a busy one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import sampling_tree

REPO = Path(__file__).resolve().parents[1]
EXPORT = REPO.parent / "shared" / "datasets" / "fitbit-kaggle" / "2016-04-12_2016-05-12"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def run_arm(work: Path, name: str, assignments: dict[str, str]) -> dict:
    root = work / f"lake-{name}"
    shutil.rmtree(root, ignore_errors=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO / "src"), **assignments}
    argv = [sys.executable, "-m", "fitlake.cli", "run", "--root", str(root), "--landing", str(work / "landing"),
            "--no-generate"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    cpu: dict[int, float] = {}
    names: dict[int, str] = {}

    def remember(pids) -> None:  # each process's name while it runs
        for pid in pids:
            names.setdefault(pid, _comm(pid))

    with sampling_tree(proc.pid, cpu, on_sample=remember):
        out, _ = proc.communicate()
    wall = time.perf_counter() - started
    by_process: dict[str, float] = {}
    for pid, seconds in cpu.items():
        by_process[names[pid]] = round(by_process.get(names[pid], 0.0) + seconds, 1)
    (work / f"{name}.log").write_text(out)
    return {"arm": name, "env": assignments, "rc": proc.returncode, "wall_s": round(wall, 1),
            "cpu_s": round(sum(cpu.values()), 1), "by_process": by_process, "load_1m": round(os.getloadavg()[0], 1)}


def main(argv: list[str]) -> int:
    work, rounds = Path(argv[0]), int(argv[1])
    arms = []
    for spec in argv[2:]:
        name, _, rest = spec.partition("=")
        arms.append((name, dict(a.split("=", 1) for a in rest.split())))
    landing = work / "landing" / "fitbit" / EXPORT.name
    if not landing.is_dir():
        landing.mkdir(parents=True)
        for f in sorted(EXPORT.glob("*.csv")):
            shutil.copy2(f, landing / f.name)
    for r in range(rounds):
        for name, assignments in arms:
            print(json.dumps({"round": r, **run_arm(work, name, assignments)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
