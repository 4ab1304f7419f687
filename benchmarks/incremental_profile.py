"""What a "+1 day" run costs per silver and gold table, in one warm JVM: fixtures/landing's days 1-3 loaded from
empty (the first load), then day 4 delivered onto a copy of that lakehouse ``--repeat`` times (the +1-day run).

    PYTHONPATH=$PWD/src python -m benchmarks.incremental_profile --out profile.json [--repeat 2] [--parallel 1]

Each table's call (``silver.job.process_table``, ``gold.job.update_table``; the rest of each stage is its own line)
is timed in Python (wall, CPU of the whole process tree: Python + JVM) and every Spark job, SQL execution and Delta
commit is given to the call whose interval holds it (tables one at a time, ``--parallel 1``: exact). Spark jobs are
also counted by their description with digits removed (``Delta: Compute snapshot for version: #`` = a snapshot
built by a Spark job). Days 1-3 are staged as tests/baselines.py stages them (``stage_landing``), and the session is
the one `fitlake run` starts for an input this small (plans interpreted, JIT at C1); dates are month-first, as
the test suite reads them (tests/conftest.py).

``--lake DIR --landing DIR``: the same per-table figures for a real +1 day instead, e.g. the 1x lakehouse of
`fitlake bench` and its landing holding one more day: each repeat copies DIR and runs `fitlake run` on the copy in
a process of its own (the JVM the command starts, tables one at a time with ``--parallel 1``, Spark's event log on),
CPU of the whole process tree; per table from its printed line (``profile_run.attribute``) plus its Spark jobs by
description.

    PYTHONPATH=$PWD/src python -m benchmarks.incremental_profile --lake /tmp/lake_1x --landing /tmp/landing_1x \
        --out profile.json --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from benchmarks.harness import REPO, machine, tree_cpu_seconds, tree_pids
from benchmarks.profile_run import _union_seconds, delta_commits, read_running_log

LANDING = REPO / "fixtures" / "landing"
LAST_DAY = "2023-04-04"


def stage_landing(landing: Path, last_day: bool) -> None:
    """fixtures/landing's files of the last day (``last_day``) or of every other day, copied into ``landing``."""
    for f in LANDING.rglob("*"):
        if f.is_file() and (LAST_DAY in f.as_posix()) == last_day:
            target = landing / f.relative_to(LANDING)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)


def _cpu() -> float:
    return sum(tree_cpu_seconds(tree_pids(os.getpid())).values())


class Calls:
    """Intervals (label, start, end, cpu) of the wrapped per-table calls, plus whole stages."""

    def __init__(self):
        self.rows: list[dict] = []

    @contextmanager
    def span(self, label: str):
        start, cpu = time.time(), _cpu()
        try:
            yield
        finally:
            self.rows.append({"label": label, "start": start, "end": time.time(), "cpu_s": _cpu() - cpu})


def instrument(calls: Calls) -> None:
    from fitlake import pipeline
    from fitlake.gold import job as gold_job
    from fitlake.silver import job as silver_job

    process_table, update_table = silver_job.process_table, gold_job.update_table

    def timed_process_table(spark, settings, name):
        with calls.span(f"silver.{name}"):
            return process_table(spark, settings, name)

    def timed_update_table(run, builder, scope, create=None):
        with calls.span(f"gold.{builder.table}"):
            return update_table(run, builder, scope, create)

    silver_job.process_table = timed_process_table
    gold_job.update_table = timed_update_table
    for stage in pipeline.STAGES:
        original = stage.run

        def timed(spark, settings, report, say, _name=stage.name, _run=original):
            with calls.span(f"stage:{_name}"):
                return _run(spark, settings, report, say)

        object.__setattr__(stage, "run", timed) if hasattr(stage, "__dataclass_fields__") else setattr(stage, "run", timed)


def read_events(folder: Path) -> tuple[list[dict], list[float]]:
    """(jobs with submission/completion time, description and executor CPU; SQL execution start times) from the
    one (in-progress or finished) event log under ``folder`` (``profile_run.read_running_log``)."""
    ev = read_running_log(folder)
    return ev["jobs"], ev["sql_times"]


_DIGITS = re.compile(r"\d+")


def job_kinds(jobs) -> dict[str, int]:
    """Spark jobs counted by their description with digits removed (``Delta: Compute snapshot for version: #``)."""
    kinds: dict[str, int] = {}
    for j in jobs:
        k = _DIGITS.sub("#", j["desc"])[:90]
        kinds[k] = kinds.get(k, 0) + 1
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))


def attribute(calls: list[dict], jobs: list[dict], sqls: list[float], commits: list[dict]) -> list[dict]:
    out = []
    claimed: set[int] = set()
    for c in sorted(calls, key=lambda c: (c["label"].startswith("stage:"), c["start"])):
        inside = lambda t: c["start"] <= t <= c["end"]  # noqa: E731
        mine = [i for i, j in enumerate(jobs) if inside(j["start"]) and (c["label"].startswith("stage:")
                                                                          or i not in claimed)]
        if not c["label"].startswith("stage:"):
            claimed.update(mine)
        kinds = job_kinds(jobs[i] for i in mine)
        ops: dict[str, int] = {}
        for cm in commits:
            if inside(cm["time"]):
                ops[cm["operation"]] = ops.get(cm["operation"], 0) + 1
        wall = c["end"] - c["start"]
        jobs_s = _union_seconds([(jobs[i]["start"], jobs[i]["end"]) for i in mine])
        out.append({"label": c["label"], "wall_s": round(wall, 2), "cpu_s": round(c["cpu_s"], 2),
                    "spark_jobs": len(mine), "sql_executions": sum(1 for t in sqls if inside(t)),
                    "jobs_s": round(jobs_s, 2), "driver_s": round(max(0.0, wall - jobs_s), 2),
                    "task_cpu_s": round(sum(jobs[i]["cpu"] for i in mine), 2),
                    "snapshot_jobs": sum(n for k, n in kinds.items() if "snapshot" in k.lower()),
                    "delta_commits": sum(ops.values()), "commit_ops": ops,
                    "job_kinds": kinds})
    return out


def run_step(spark, settings, calls: Calls, events: Path, root: Path) -> dict:
    from fitlake.pipeline import run_lock, run_pipeline

    for db in ("bronze", "silver", "quarantine", "gold", "ops"):
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")
    calls.rows.clear()
    lines: list[str] = []
    start, cpu = time.time(), _cpu()
    with run_lock(root, 0):
        report = run_pipeline(spark, settings, say=lines.append)
    wall, cpu = time.time() - start, _cpu() - cpu
    time.sleep(1.0)  # the event log's last events reach the file
    jobs, sqls = read_events(events)
    jobs = [j for j in jobs if j["start"] >= start]
    sqls = [t for t in sqls if t >= start]
    commits = delta_commits(root, start)
    rows = attribute(calls.rows, jobs, sqls, commits)
    silver = {c.table: {"rows_in": c.rows_in, "inserted": c.inserted, "updated": c.updated,
                        "unchanged": c.unchanged, "duplicates": c.duplicates, "quarantined": c.quarantined_total}
              for c in report.silver}
    gold = {g.table: {"inserted": g.inserted, "updated": g.updated, "deleted": g.deleted, "unchanged": g.unchanged}
            for g in report.gold}

    def total(prefix: str, key: str) -> float:
        return round(sum(r[key] for r in rows if r["label"].startswith(prefix)), 2)

    by_layer = {layer: {k: total(f"{layer}.", k) for k in ("wall_s", "cpu_s", "spark_jobs", "sql_executions",
                                                           "driver_s", "snapshot_jobs", "delta_commits")}
                for layer in ("silver", "gold")}
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "spark_jobs": len(jobs), "sql_executions": len(sqls),
            "delta_commits": len(commits), "by_layer": by_layer, "calls": rows, "silver_counts": silver,
            "gold_counts": gold}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.incremental_profile", description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/fitlake-incremental-profile"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--repeat", type=int, default=2, help="+1-day runs, each on a fresh copy of the days 1-3 lake")
    p.add_argument("--parallel", type=int, default=1, help="FITLAKE_PARALLEL_TABLES (1: exact attribution)")
    p.add_argument("--lake", type=Path, help="a lakehouse to deliver the landing's new files onto (copied per repeat)")
    p.add_argument("--landing", type=Path, help="with --lake: its landing folder, holding the new day")
    args = p.parse_args(argv)
    if args.lake is not None:
        return lake_profile(args, argv)
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    events = work / "eventlog"
    events.mkdir(parents=True)
    os.environ["FITLAKE_EVENT_LOG_DIR"] = str(events)
    os.environ["FITLAKE_PARALLEL_TABLES"] = str(args.parallel)

    from fitlake.config import Settings
    from fitlake.spark import INTERPRETED, get_spark

    root, landing, base = work / "lake", work / "landing", work / "base"
    settings = Settings(root=root, landing=landing, parallel_tables=args.parallel, date_order="month_first")
    conf = {**INTERPRETED, "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"}
    spark = get_spark(settings, app_name="fitlake-incremental-profile", conf=conf, jit="c1")
    calls = Calls()
    instrument(calls)
    stage_landing(landing, last_day=False)
    steps = {"first_load_days_1_3": run_step(spark, settings, calls, events, root)}
    shutil.copytree(root, base)
    stage_landing(landing, last_day=True)
    for i in range(args.repeat):
        shutil.rmtree(root)
        shutil.copytree(base, root)
        steps[f"plus_one_day_{i + 1}"] = run_step(spark, settings, calls, events, root)
    spark.stop()
    src = next((p for p in sys.path if p.endswith("/src") and Path(p, "fitlake").is_dir()), None)
    result = {"command": "python -m benchmarks.incremental_profile " + " ".join(argv if argv is not None
                                                                                 else sys.argv[1:]),
              "code": src, "machine": machine(), "load_avg_end": os.getloadavg(),
              "landing": "fixtures/landing: days 1-3 from empty, then day 4 (2023-04-04)",
              "parallel_tables": args.parallel, "steps": steps}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name, s in steps.items():
        print(f"{name}: wall {s['wall_s']} s, cpu {s['cpu_s']} s, jobs {s['spark_jobs']}, sql {s['sql_executions']}, "
              f"commits {s['delta_commits']}; silver {s['by_layer']['silver']}; gold {s['by_layer']['gold']}")
    return 0


def lake_step(lake: Path, landing: Path, work: Path, label: str, parallel: int) -> dict:
    """One `fitlake run` of ``landing`` onto a fresh copy of ``lake`` in its own process: wall, CPU of the process
    tree (sampled from /proc), per table (``profile_run.attribute``) with its Spark jobs by description."""
    import subprocess

    from benchmarks.harness import fitlake_command
    from benchmarks.profile_run import TABLE_LINE, attribute, read_event_log, run_timed

    root, events = work / "lake", work / "eventlog" / label
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(lake), str(root)], check=True)
    env = {"PYTHONUNBUFFERED": "1", "FITLAKE_PARALLEL_TABLES": str(parallel), "FITLAKE_EVENT_LOG_DIR": str(events)}
    argv = [*fitlake_command(), "run", "--root", str(root), "--landing", str(landing), "--no-generate",
            "--date-order", "month_first"]
    cpu: dict[int, float] = {}
    start, wall, lines = run_timed(argv, env, cpu)
    ev = read_event_log(events)
    out = attribute(start, wall, lines, ev, delta_commits(root, start))
    spans = [(f"{m.group(1)}.{m.group(2)}", at - float(m.group(3)), at) for at, line in lines
             if (m := TABLE_LINE.match(line))]
    for t, (_, begin, end) in zip(out["tables"], spans):
        t["job_kinds"] = job_kinds(j for j in ev["jobs"] if begin - 0.05 <= j["start"] <= end + 0.05)
    out["cpu_s"] = round(sum(cpu.values()), 2)
    out["output"] = [line for _, line in lines]
    return out


def lake_profile(args, argv) -> int:
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    steps = {f"plus_one_day_{i + 1}": lake_step(args.lake.resolve(), args.landing.resolve(), work, str(i + 1),
                                                args.parallel) for i in range(args.repeat)}
    result = {"command": "python -m benchmarks.incremental_profile " + " ".join(argv if argv is not None
                                                                                 else sys.argv[1:]),
              "machine": machine(), "load_avg_end": os.getloadavg(), "lake": str(args.lake),
              "landing": str(args.landing), "parallel_tables": args.parallel, "steps": steps}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name, s in steps.items():
        print(f"{name}: wall {s['wall_s']} s, cpu {s['cpu_s']} s, jobs {s['spark_jobs']}, commits {s['delta_commits']}; "
              f"{json.dumps(s['by_stage'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
