"""Where a `fitlake run`'s seconds go, per table and step: ``fitlake bench --profile`` (issue #16's first step).

Each profiled step is one `fitlake run` in its own process (wall incl. interpreter and JVM start), with tables one
at a time (``FITLAKE_PARALLEL_TABLES=1``, so every Spark job and Delta commit belongs to exactly one table) and
Spark's event log on (``FITLAKE_EVENT_LOG_DIR``). Sources of each figure:

- a table's wall: the seconds fitlake prints on the table's line, ending when the line is printed;
- Spark jobs: the event log's job start/end times, attributed to the table whose wall holds the job's submission;
  ``jobs_s`` is the union of those job intervals (time at least one Spark job was running), ``task_cpu_s`` the
  executors' CPU time summed over the jobs' stages;
- ``driver_s`` = wall - jobs_s: the table's time outside any Spark job (query planning and code generation, Delta
  snapshot and log work, commits, streaming query start/stop and checkpoint files, Python);
- Delta commits: the ``commitInfo`` of every ``_delta_log/*.json`` under the lakehouse, attributed by timestamp;
- JVM start: process start to the event log's application start; outside tables: the rest of the stage walls.

Steps: ``empty`` (from an empty lakehouse), ``plus_one_day`` (generated landings only: one more day), ``noop``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.run import REAL_EXPORT, add_next_day, ensure_landing, fitlake_command, log, machine, remove_files

TABLE_LINE = re.compile(r"^  (bronze|silver|gold)\s+(?:(?:bronze|silver|gold)\.)?([A-Za-z0-9_]+)\b.*[(\[]([0-9.]+) s[)\]]\s*$")
STAGE_LINE = re.compile(r"^\[(\w+)\] done in ([0-9.]+) s")


def run_timed(argv: list[str], env: dict, cpu: dict[int, float] | None = None
              ) -> tuple[float, float, list[tuple[float, str]]]:
    """Run ``argv``; (start, wall, [(time, line)] of its output). Times are epoch seconds. stderr goes into the same
    pipe: read apart, a full stderr pipe would block the child while stdout is being read. ``cpu``: filled with the
    CPU seconds of its process tree (``harness.sampling_tree``)."""
    from benchmarks.harness import sampling_tree

    start = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **env}, start_new_session=True)
    lines = []
    assert proc.stdout is not None
    with sampling_tree(proc.pid, {} if cpu is None else cpu):
        for line in proc.stdout:
            lines.append((time.time(), line.rstrip("\n")))
        proc.wait()
    if proc.returncode != 0:
        tail = "\n".join(line for _, line in lines[-40:])
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{tail}")
    return start, time.time() - start, lines


def _text(path: Path) -> str:
    """An event log file's text; Spark compresses rolled event logs with zstd by default."""
    if path.suffix == ".zstd":
        import pyarrow as pa

        with pa.CompressedInputStream(pa.OSFile(str(path)), "zstd") as stream:
            return stream.read().decode("utf-8", errors="replace")
    return path.read_text(encoding="utf-8", errors="replace")


def event_log_lines(folder: Path):
    """The lines of the one finished Spark event log in ``folder``, in order."""
    apps = list(folder.iterdir())
    if len(apps) != 1 or apps[0].name.endswith(".inprogress"):
        raise RuntimeError(f"expected one finished Spark event log in {folder}, found {[p.name for p in apps]}")
    # Spark 4 writes a folder of rolled files (eventlog_v2_<app>/events_<n>_<app>); older ones a single file
    logs = (sorted((p for p in apps[0].iterdir() if p.name.startswith("events_")),
                   key=lambda p: int(p.name.split("_")[1])) if apps[0].is_dir() else apps)
    return (line for p in logs for line in _text(p).splitlines())


def read_running_log(folder: Path) -> dict:
    """``parse_events`` of every event log file under ``folder``, also of an application still running (its last
    line may be half written: skipped)."""
    lines = (line for p in sorted(folder.rglob("*")) if p.is_file() for line in _text(p).splitlines())
    return parse_events(lines, partial=True)


def read_event_log(folder: Path) -> dict:
    """``parse_events`` of the one finished event log in ``folder``, with its SQL executions counted."""
    ev = parse_events(event_log_lines(folder))
    return {**ev, "sql_executions": len(ev["sql_times"])}


def parse_events(lines, partial: bool = False) -> dict:
    """Jobs (start, end, executor CPU, description; finished ones only), the application start, the start times of
    SQL executions and the number of streaming query starts in event log ``lines``. ``partial``: the log of a
    running application, whose last line may still be half written (skipped)."""
    jobs: dict[int, dict] = {}
    stage_cpu: dict[int, float] = {}
    stage_job: dict[int, int] = {}
    app_start = None
    sql_times: list[float] = []
    streams = 0
    for raw in lines:
        try:
            event = json.loads(raw)
        except ValueError:
            if partial:
                continue
            raise
        kind = event.get("Event", "")
        if kind == "SparkListenerApplicationStart":
            app_start = event["Timestamp"] / 1000
        elif kind == "SparkListenerJobStart":
            props = event.get("Properties") or {}
            jobs[event["Job ID"]] = {"start": event["Submission Time"] / 1000, "end": None, "cpu": 0.0,
                                     "desc": props.get("spark.job.description") or props.get("callSite.short") or "?"}
            for sid in event.get("Stage IDs", []):
                stage_job[sid] = event["Job ID"]
        elif kind == "SparkListenerJobEnd":
            jobs[event["Job ID"]]["end"] = event["Completion Time"] / 1000
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            for acc in info.get("Accumulables", []):
                if acc.get("Name") == "internal.metrics.executorCpuTime":
                    stage_cpu[info["Stage ID"]] = float(acc["Value"]) / 1e9
        elif kind.endswith("SparkListenerSQLExecutionStart"):
            sql_times.append(event["time"] / 1000 if "time" in event else None)
        elif kind.endswith("QueryStartedEvent"):
            streams += 1
    for sid, cpu in stage_cpu.items():
        if sid in stage_job:
            jobs[stage_job[sid]]["cpu"] += cpu
    return {"app_start": app_start, "jobs": [j for j in jobs.values() if j["end"] is not None],
            "sql_times": sql_times, "streaming_query_starts": streams}


def delta_commits(root: Path, since: float) -> list[dict]:
    """Every Delta commit under ``root`` made after ``since`` (epoch s): table, time, operation."""
    out = []
    for log_file in root.rglob("_delta_log/*.json"):
        if log_file.stat().st_mtime < since - 1:
            continue
        for line in log_file.read_text(encoding="utf-8").splitlines():
            info = json.loads(line).get("commitInfo") if line.strip() else None
            if info is not None:
                table = log_file.parent.parent
                out.append({"table": f"{table.parent.name}.{table.name}", "time": info["timestamp"] / 1000,
                            "operation": info.get("operation", "?")})
    return [c for c in out if c["time"] >= since]


def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def profile_step(step: str, root: Path, landing: Path, work: Path, extra: list[str]) -> dict:
    events = work / "eventlog" / step
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir(parents=True)
    env = {"PYTHONUNBUFFERED": "1", "FITLAKE_PARALLEL_TABLES": "1", "FITLAKE_EVENT_LOG_DIR": str(events)}
    argv = [*fitlake_command(), "run", "--root", str(root), "--landing", str(landing), "--no-generate", *extra]
    log(f"profile {step}: {' '.join(argv[-6:])}")
    start, wall, lines = run_timed(argv, env)
    if not any(events.iterdir()):  # the no-op run decides "nothing new" without starting Spark
        return {"wall_s": round(wall, 2), "spark_started": False, "tables": []}
    return attribute(start, wall, lines, read_event_log(events), delta_commits(root, start))


def attribute(start: float, wall: float, lines: list[tuple[float, str]], ev: dict, commits: list[dict]) -> dict:
    """One run's profile: its printed table lines (with the time each was printed), its event log and its Delta
    commits, every job and commit given to the table whose wall holds it."""
    tables = []
    for at, line in lines:
        m = TABLE_LINE.match(line)
        if m:
            tables.append({"table": f"{m.group(1)}.{m.group(2)}", "end": at, "start": at - float(m.group(3)),
                           "wall_s": float(m.group(3))})
    stages = {m.group(1): float(m.group(2)) for _, line in lines if (m := STAGE_LINE.match(line))}
    out = {"wall_s": round(wall, 2), "spark_started": True, "stages_s": stages,
           "jvm_start_s": round(ev["app_start"] - start, 2) if ev["app_start"] else None,
           "spark_jobs": len(ev["jobs"]), "sql_executions": ev["sql_executions"],
           "streaming_query_starts": ev["streaming_query_starts"], "delta_commits": len(commits), "tables": []}
    claimed: set[int] = set()
    slack = 0.05  # the printed seconds are rounded
    for t in tables:
        mine = [i for i, j in enumerate(ev["jobs"]) if t["start"] - slack <= j["start"] <= t["end"] + slack]
        claimed.update(mine)
        jobs_s = _union_seconds([(ev["jobs"][i]["start"], ev["jobs"][i]["end"]) for i in mine])
        ops: dict[str, int] = {}
        for c in commits:
            if t["start"] - slack <= c["time"] <= t["end"] + slack:
                ops[c["operation"]] = ops.get(c["operation"], 0) + 1
        out["tables"].append({
            "table": t["table"], "wall_s": round(t["wall_s"], 2), "spark_jobs": len(mine),
            "jobs_s": round(jobs_s, 2), "task_cpu_s": round(sum(ev["jobs"][i]["cpu"] for i in mine), 2),
            "driver_s": round(max(0.0, t["wall_s"] - jobs_s), 2), "delta_commits": sum(ops.values()),
            "commit_ops": ops,
        })
    rest = [j for i, j in enumerate(ev["jobs"]) if i not in claimed]
    out["outside_tables"] = {"spark_jobs": len(rest),
                             "jobs_s": round(_union_seconds([(j["start"], j["end"]) for j in rest]), 2)}
    by_stage: dict[str, dict] = {}
    for t in out["tables"]:
        s = by_stage.setdefault(t["table"].split(".")[0], {"tables": 0, "wall_s": 0.0, "jobs_s": 0.0, "driver_s": 0.0,
                                                            "spark_jobs": 0, "delta_commits": 0})
        s["tables"] += 1
        for k in ("wall_s", "jobs_s", "driver_s", "spark_jobs", "delta_commits"):
            s[k] = round(s[k] + t[k], 2)
    for name, s in by_stage.items():
        s["per_table_s"] = round(s["wall_s"] / s["tables"], 2)
        s["driver_share"] = round(s["driver_s"] / s["wall_s"], 3) if s["wall_s"] else None
        stage_wall = stages.get({"bronze": "ingest"}.get(name, name))
        s["stage_outside_tables_s"] = round(stage_wall - s["wall_s"], 2) if stage_wall is not None else None
    out["by_stage"] = by_stage
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_run", description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=None,
                   help="profile the generated landing at this scale (+1 day and no-op too); default: the real export")
    p.add_argument("--export", default=str(REAL_EXPORT), help="the real export's folder (default: ../shared's)")
    p.add_argument("--workdir", default="/tmp/fitlake-profile")
    p.add_argument("--out", default="profile.json")
    args = p.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    root = work / "lake"
    shutil.rmtree(root, ignore_errors=True)
    steps = {}
    if args.scale is None:
        landing = work / "landing_real"
        export = Path(args.export)
        if not landing.is_dir():
            (landing / "fitbit").mkdir(parents=True)
            shutil.copytree(export, landing / "fitbit" / export.name)
        what = f"the real export {export.name}"
        steps["empty"] = profile_step("empty", root, landing, work, [])
    else:
        landing = ensure_landing(work, args.scale)
        what = f"generated landing at {args.scale:g}x"
        extra = ["--date-order", "month_first"]
        steps["empty"] = profile_step("empty", root, landing, work, extra)
        day, added = add_next_day(landing, args.scale)
        try:
            steps["plus_one_day"] = profile_step("plus_one_day", root, landing, work, extra)
            steps["plus_one_day"]["day"] = str(day)
        finally:
            remove_files(landing, added)
    steps["noop"] = profile_step("noop", root, landing, work, [] if args.scale is None else ["--date-order", "month_first"])
    result = {"command": "python -m benchmarks.profile_run " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": machine(), "landing": what, "parallel_tables": 1, "steps": steps}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    log(f"profile written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
