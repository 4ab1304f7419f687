"""Where a bronze ingest's seconds go, per source and step: `fitlake run --stage ingest` in this process, sources
one at a time (FITLAKE_PARALLEL_TABLES=1: exact attribution), with its steps wrapped.

    PYTHONPATH=$PWD/src:$PWD python -m benchmarks.bronze_profile --landing L [--root R] --out X.json [-- run args]

Steps (exclusive: a step's time excludes the steps it calls): ``scan`` (listing + hashing, ``landing_scan``),
``state`` (ingested.json / plan.json), ``schema``, ``exists`` / ``ensure_table`` / ``register`` (Delta snapshot
lookups), ``plain_file`` (the driver's plain-file checks), ``date_formats`` (``plain_groups`` without its
``plain_file`` calls: the date-format job), ``write`` (read + Delta write + commit + observation), ``stats`` (counts
read back from the table). Per step: calls, wall, Python CPU (this process), JVM CPU (the java child), Spark jobs
started inside it (by description, digits removed). A ``--root`` holding a loaded lakehouse profiles a +N-day
ingest onto it (copy it first: the run writes into it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.harness import machine, tree_cpu_seconds, tree_pids
from benchmarks.profile_run import read_running_log

_DIGITS = re.compile(r"\d+")


class Profiler:
    def __init__(self):
        self.source = "-"
        self.stack: list[list] = []  # [label, start, py_cpu, jvm_cpu, child_wall, child_py, child_jvm]
        self.rows: dict[tuple[str, str], dict] = defaultdict(lambda: {"calls": 0, "wall_s": 0.0, "py_cpu_s": 0.0,
                                                                        "jvm_cpu_s": 0.0})
        self.spans: list[tuple[str, str, float, float]] = []  # (source, label, start, end) exclusive owner intervals
        self.jvm: int | None = None

    def _jvm_cpu(self) -> float:
        if self.jvm is None:
            kids = [p for p in tree_pids(os.getpid()) if p != os.getpid()]
            for p in kids:
                try:
                    if b"java" in Path(f"/proc/{p}/cmdline").read_bytes()[:200]:
                        self.jvm = p
                except OSError:
                    pass
        return tree_cpu_seconds([self.jvm]).get(self.jvm, 0.0) if self.jvm else 0.0

    def wrap(self, owner, name: str, label: str, source_arg: int | None = None):
        original = getattr(owner, name)

        def wrapped(*args, **kwargs):
            if source_arg is not None:
                self.source = args[source_arg].name
            frame = [label, time.time(), time.process_time(), self._jvm_cpu(), 0.0, 0.0, 0.0]
            self.stack.append(frame)
            try:
                return original(*args, **kwargs)
            finally:
                self.stack.pop()
                end, py, jvm = time.time(), time.process_time(), self._jvm_cpu()
                wall, dpy, djvm = end - frame[1], py - frame[2], jvm - frame[3]
                row = self.rows[(self.source, label)]
                row["calls"] += 1
                row["wall_s"] += wall - frame[4]
                row["py_cpu_s"] += dpy - frame[5]
                row["jvm_cpu_s"] += djvm - frame[6]
                self.spans.append((self.source, label, frame[1], end, len(self.stack)))
                if self.stack:
                    parent = self.stack[-1]
                    parent[4] += wall
                    parent[5] += dpy
                    parent[6] += djvm

        setattr(owner, name, wrapped)


def instrument(p: Profiler) -> None:
    from fitlake import delta_io
    from fitlake.bronze import landing_scan, local_batch, plain_csv, writer
    from fitlake.bronze import schema as schemas

    p.wrap(local_batch, "ingest_local", "other", source_arg=2)
    p.wrap(landing_scan, "scan_source", "scan")
    p.wrap(local_batch.State, "ingested", "state")
    p.wrap(local_batch.State, "save_ingested", "state")
    p.wrap(local_batch.State, "save_plan", "state")
    p.wrap(schemas, "ensure_schema", "schema")
    p.wrap(schemas, "load_schema", "schema")
    p.wrap(delta_io, "exists", "exists")
    p.wrap(writer, "ensure_bronze_table", "ensure_table")
    p.wrap(local_batch, "register_table", "register")
    p.wrap(plain_csv, "plain_file", "plain_file")
    p.wrap(plain_csv, "plain_groups", "date_formats")
    p.wrap(local_batch, "_observed_write", "write")
    p.wrap(local_batch, "_stats_from_table", "stats")


def attribute_jobs(p: Profiler, jobs: list[dict]) -> dict:
    """Each job to the innermost span (deepest, then latest-starting) holding its submission time."""
    out: dict[tuple[str, str], dict] = defaultdict(lambda: {"jobs": 0, "jobs_task_cpu_s": 0.0, "kinds": {}})
    for j in jobs:
        holding = [s for s in p.spans if s[2] <= j["start"] <= s[3]]
        if not holding:
            key = ("-", "outside")
        else:
            s = max(holding, key=lambda s: (s[4], s[2]))
            key = (s[0], s[1])
        row = out[key]
        row["jobs"] += 1
        row["jobs_task_cpu_s"] += j["cpu"]
        kind = _DIGITS.sub("#", j["desc"])[:80]
        row["kinds"][kind] = row["kinds"].get(kind, 0) + 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--landing", type=Path, required=True)
    ap.add_argument("--root", type=Path, default=Path("/tmp/fitlake-bronze-profile/lake"))
    ap.add_argument("--events", type=Path, default=Path("/tmp/fitlake-bronze-profile/eventlog"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("run_args", nargs="*", help="more `fitlake run` arguments (after --)")
    args = ap.parse_args(argv)
    import shutil

    shutil.rmtree(args.events, ignore_errors=True)
    args.events.mkdir(parents=True)
    os.environ["FITLAKE_EVENT_LOG_DIR"] = str(args.events)
    os.environ["FITLAKE_PARALLEL_TABLES"] = "1"
    p = Profiler()
    instrument(p)
    from fitlake import cli

    start, py0 = time.time(), time.process_time()
    rc = cli.main(["run", "--root", str(args.root), "--landing", str(args.landing), "--stage", "ingest",
                   *args.run_args])
    wall = time.time() - start
    jobs = [j for j in read_running_log(args.events)["jobs"] if j["start"] >= start]
    by_job = attribute_jobs(p, jobs)
    rows = []
    for key in sorted(set(p.rows) | set(by_job)):
        r = {"source": key[0], "step": key[1], **{k: round(v, 3) if isinstance(v, float) else v
                                                  for k, v in p.rows.get(key, {}).items()}}
        j = by_job.get(key)
        if j:
            r.update(jobs=j["jobs"], jobs_task_cpu_s=round(j["jobs_task_cpu_s"], 2), job_kinds=j["kinds"])
        rows.append(r)
    steps: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        for k in ("calls", "wall_s", "py_cpu_s", "jvm_cpu_s", "jobs"):
            steps[r["step"]][k] += r.get(k, 0)
    result = {"command": "python -m benchmarks.bronze_profile " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": machine(), "load_avg_end": os.getloadavg(), "rc": rc, "wall_s": round(wall, 2),
              "py_cpu_s": round(time.process_time() - py0, 2), "jvm_cpu_s": round(p._jvm_cpu(), 2),
              "spark_jobs": len(jobs),
              "by_step": {k: {kk: round(vv, 2) for kk, vv in v.items()} for k, v in steps.items()}, "rows": rows}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("wall_s", "py_cpu_s", "jvm_cpu_s", "spark_jobs", "by_step")}, indent=1))
    return rc


if __name__ == "__main__":
    sys.exit(main())
