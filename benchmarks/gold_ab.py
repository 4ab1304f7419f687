"""A/B of the gold stage between source trees, each on its own copy of one prepared lakehouse (silver already holds
the new rows, e.g. a B1 lake after `fitlake run --stage ingest` and `--stage silver` on one more day; or, for gold's
first load, a lake with its ``gold/`` tables and ``ops/gold_state`` removed): CPU seconds of
the whole process tree (Python + JVM), wall, Spark jobs and Delta snapshot rebuilds from the event log, per-table
jobs, and a digest of every gold table's rows (``_updated_at`` left out) so the arms can be checked to write the
same gold. One JSON line per run on stdout.

    git worktree add --detach /tmp/before <rev>
    python -m benchmarks.gold_ab --base LAKE --landing LANDING before=/tmp/before after=. [--repeat 2]

Tables run one at a time (``FITLAKE_PARALLEL_TABLES=1``) so each Spark job belongs to one table line. CPU seconds
compare on a busy machine better than wall; the load average is recorded beside each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from benchmarks.profile_run import attribute, delta_commits, event_log_lines, read_event_log, run_timed


def run_lines(argv: list[str], env: dict) -> tuple[float, float, float, list[tuple[float, str]]]:
    """Run ``argv``; (start, wall, CPU seconds of its process tree, [(time printed, line)])."""
    cpu: dict[int, float] = {}
    start, wall, lines = run_timed(argv, env, cpu)
    return start, wall, sum(cpu.values()), lines


def snapshot_jobs(folder: Path) -> tuple[int, dict[str, int]]:
    """(Delta snapshot computations, jobs by description prefix) from the one event log in ``folder``."""
    kinds: dict[str, int] = {}
    for raw in event_log_lines(folder):
        event = json.loads(raw)
        if event.get("Event") == "SparkListenerJobStart":
            desc = (event.get("Properties") or {}).get("spark.job.description") or "(none)"
            key = " ".join(desc.split()[:3])
            kinds[key] = kinds.get(key, 0) + 1
    return sum(n for k, n in kinds.items() if "Compute snapshot" in k), kinds


def gold_digest(root: Path) -> dict[str, str]:
    """Per gold table: row count and an order-independent digest of its rows without ``_updated_at``: the sum of
    DuckDB's hash of each row's values (a multiset digest), over the current snapshot the deltalake package reads.
    Seconds for 8.6 M rows, where sorting the rows' text in Python took minutes and GBs."""
    import duckdb
    from deltalake import DeltaTable

    out = {}
    for table in sorted((root / "gold").iterdir()):
        if not (table / "_delta_log").is_dir():
            continue
        dt = DeltaTable(str(table))
        cols = sorted(f.name for f in dt.schema().fields if f.name != "_updated_at")
        con = duckdb.connect()
        con.register("rows", dt.to_pyarrow_table(columns=cols))
        n, h = con.sql("SELECT count(*), coalesce(sum(hash({}))::HUGEINT % 18446744073709551616, 0) FROM rows"
                       .format(", ".join(f'"{c}"' for c in cols))).fetchall()[0]
        con.close()
        out[table.name] = f"{n}:{int(h):016x}"
    return out


def run_arm(name: str, checkout: Path, base: Path, landing: Path, work: Path) -> dict:
    root = work / f"lake-{name}"
    events = work / f"events-{name}"
    for p in (root, events):
        shutil.rmtree(p, ignore_errors=True)
    shutil.copytree(base, root)
    events.mkdir(parents=True)
    before = os.getloadavg()
    start, wall, cpu, lines = run_lines([sys.executable, "-m", "fitlake.cli", "run", "--root", str(root), "--landing", str(landing),
                      "--stage", "gold", "--date-order", "month_first"],
                     env={"PYTHONPATH": str(checkout.resolve() / "src"), "PYTHONUNBUFFERED": "1",
                          "FITLAKE_PARALLEL_TABLES": "1", "FITLAKE_EVENT_LOG_DIR": str(events)})
    ev = read_event_log(events)
    prof = attribute(start, wall, lines, ev, delta_commits(root, start))
    snapshots, kinds = snapshot_jobs(events)
    return {"arm": name, "checkout": str(checkout), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "spark_jobs": len(ev["jobs"]), "snapshot_jobs": snapshots,
            "delta_commits": prof["delta_commits"], "task_cpu_s": round(sum(j["cpu"] for j in ev["jobs"]), 1),
            "load_avg_before": before, "load_avg_after": os.getloadavg(),
            "tables": {t["table"]: {k: t[k] for k in ("wall_s", "spark_jobs", "task_cpu_s", "delta_commits")}
                       for t in prof["tables"]},
            "counts": [ln.split(": ", 1)[1] for _, ln in lines if ln.startswith("  gold")],
            "job_kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:12]),
            "gold": gold_digest(root)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the prepared lakehouse (copied for each run)")
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/fitlake-gold-ab"))
    parser.add_argument("--keep", action="store_true", help="keep the copies and event logs in --work")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each arm, interleaved")
    parser.add_argument("arms", nargs="+", help="name=checkout folder")
    args = parser.parse_args(argv)
    for _ in range(args.repeat):
        for arm in args.arms:
            name, _, folder = arm.partition("=")
            print(json.dumps(run_arm(name, Path(folder), args.base, args.landing, args.work)), flush=True)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
