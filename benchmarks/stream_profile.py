"""Where one streaming micro-batch's time goes (issue #16, B4): Spark jobs, SQL executions, Delta commits and seconds
per step of ``StreamBatch``, on a warm JVM.

One process: a Spark session with its event log on (``FITLAKE_EVENT_LOG_DIR``), a warm-up available-now run on a
throwaway lakehouse, then an available-now run over ``--files`` generated files of ``--events`` events each, read
``--per-batch`` files per micro-batch, on a fresh lakehouse. Every Spark job (event log: submission time), SQL
execution and Delta commit (``commitInfo.timestamp``) is given to the batch and the step whose epoch span holds it
(``StreamBatch.spans``); what falls in a batch but in no step is ``(between steps)``, outside every batch is
``(outside batches)`` (the query's own planning, the source's listing, the offset/commit logs). CPU seconds are the
process tree's (``/proc``), measured around each batch: counts and CPU do not depend on the machine's load, walls do.

    PYTHONPATH=src python -m benchmarks.stream_profile --work /tmp/fitlake-stream-profile --out profile.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from benchmarks.harness import tree_cpu_seconds, tree_pids
from benchmarks.profile_run import delta_commits, event_log_lines, parse_events


def _events(folder: Path) -> tuple[list[dict], list[float]]:
    """(finished jobs with submission/end time, description and executor CPU; SQL execution start times) of the one
    event log (``profile_run.parse_events``)."""
    ev = parse_events(event_log_lines(folder))
    return ev["jobs"], ev["sql_times"]


def thread_cpu(pids: list[int]) -> dict[str, float]:
    """CPU seconds so far per thread name (``/proc/<pid>/task/*/stat``), digits folded: ``GC Thread#3`` -> ``GC
    Thread#``, so JIT compiler, GC, task and driver threads can be told apart."""
    import re

    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                stat = (task / "stat").read_bytes()
            except OSError:
                continue
            name = re.sub(rb"[0-9]+", b"", stat[stat.index(b"(") + 1:stat.rindex(b")")]).decode(errors="replace")
            fields = stat[stat.rindex(b")") + 2:].split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def _job_kind(desc: str) -> str:
    """A job's description without what changes per batch (versions, ids, paths), so jobs of a kind add up."""
    import re

    desc = (desc or "(none)").strip().splitlines()[-1]  # a streaming batch's jobs: "batch = N - <what>"
    desc = re.sub(r"(file:)?/[^\s,]*", "<path>", desc)
    return re.sub(r"[0-9]+", "N", desc)[:100]


def _step_of(at: float, spans: list[tuple[str, float, float]], slack: float = 0.002) -> str | None:
    """The innermost step span holding ``at`` (spans nest: ``total`` holds every step)."""
    holding = [(b - a, s) for s, a, b in spans if a - slack <= at <= b + slack]
    return min(holding)[1] if holding else None


def profile(work: Path, files: int, events: int, per_batch: int, out: Path | None,
            conf: dict[str, str] | None = None, stream_conf: dict[str, str] | None = None) -> dict:
    from fitlake.config import Settings
    from fitlake.generate.events import generate_events
    from fitlake.spark import get_spark
    from fitlake.streaming import job
    from fitlake.streaming.job import StreamOptions, run_stream

    shutil.rmtree(work, ignore_errors=True)
    evlog = work / "eventlog"
    os.environ["FITLAKE_EVENT_LOG_DIR"] = str(evlog)
    spark = get_spark(Settings(root=work / "warmup"), app_name="fitlake-stream-profile", conf=conf)
    handlers = []

    me = os.getpid()
    batch_cpu: dict[int, float] = {}
    batch_codegen: dict[int, int] = {}
    codegen = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()

    class Recorded(job.StreamBatch):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            handlers.append(self)

        def __call__(self, batch, batch_id):
            before = sum(tree_cpu_seconds(tree_pids(me)).values())
            compiled = codegen.getCount()
            try:
                super().__call__(batch, batch_id)
            finally:
                batch_cpu[batch_id] = sum(tree_cpu_seconds(tree_pids(me)).values()) - before
                batch_codegen[batch_id] = codegen.getCount() - compiled

    original, job.StreamBatch = job.StreamBatch, Recorded
    original_conf = dict(job.STREAM_CONF)
    job.STREAM_CONF.update(stream_conf or {})
    try:
        warm = Settings(root=work / "warmup")
        generate_events(warm.landing_dir, rate=1_000, duration=4, late_fraction=0.05, late_seconds=30)
        run_stream(spark, warm, StreamOptions(available_now=True, max_files_per_trigger=1), poll_seconds=0.1)
        settings = Settings(root=work / "lakehouse")
        generated = generate_events(settings.landing_dir, rate=events, duration=files, late_fraction=0.05,
                                    late_seconds=30, duplicate_fraction=0.01)
        cpu_before = sum(tree_cpu_seconds(tree_pids(me)).values())
        threads_before = thread_cpu(tree_pids(me))
        since = time.time()
        summary = run_stream(spark, settings, StreamOptions(available_now=True, max_files_per_trigger=per_batch),
                             poll_seconds=0.1)
        run_cpu = sum(tree_cpu_seconds(tree_pids(me)).values()) - cpu_before
        threads = {k: round(v - threads_before.get(k, 0.0), 2) for k, v in thread_cpu(tree_pids(me)).items()}
        threads = dict(sorted(((k, v) for k, v in threads.items() if v >= 0.1), key=lambda kv: -kv[1]))
    finally:
        job.StreamBatch = original
        job.STREAM_CONF.clear()
        job.STREAM_CONF.update(original_conf)
        spark.stop()
    handler = handlers[-1]
    jobs, sql = _events(evlog)
    commits = delta_commits(settings.root, since)
    batches = []
    for batch_id in sorted(handler.spans):
        spans = handler.spans[batch_id]
        total = next(s for s in spans if s[0] == "total")
        steps: dict[str, dict] = {}

        def slot(name: str) -> dict:
            return steps.setdefault(name, {"s": 0.0, "jobs": 0, "jobs_s": 0.0, "task_cpu_s": 0.0, "sql": 0,
                                           "commits": [], "job_descriptions": {}})
        for name, a, b in spans:
            if name != "total":
                slot(name)["s"] += b - a
        for j in jobs:
            name = _step_of(j["start"], spans)
            if name is not None:
                s = slot("(between steps)" if name == "total" else name)
                s["jobs"] += 1
                s["jobs_s"] += (j["end"] or j["start"]) - j["start"]
                s["task_cpu_s"] += j["cpu"]
                desc = _job_kind(j["desc"])
                s["job_descriptions"][desc] = s["job_descriptions"].get(desc, 0) + 1
        for q in sql:
            name = _step_of(q, spans)
            if name is not None:
                slot("(between steps)" if name == "total" else name)["sql"] += 1
        for c in commits:
            name = _step_of(c["time"], spans, slack=0.05)
            if name is not None:
                slot("(between steps)" if name == "total" else name)["commits"].append(f"{c['table']}:{c['operation']}")
        for s in steps.values():
            s["s"], s["jobs_s"], s["task_cpu_s"] = round(s["s"], 3), round(s["jobs_s"], 3), round(s["task_cpu_s"], 3)
        in_batch = [j for j in jobs if total[1] <= j["start"] <= total[2]]
        batches.append({
            "batch_id": batch_id, "events": handler.events.get(batch_id), "wall_s": round(total[2] - total[1], 3),
            "spark_jobs": len(in_batch), "sql_executions": sum(1 for q in sql if total[1] <= q <= total[2]),
            "delta_commits": sum(len(s["commits"]) for s in steps.values()),
            "task_cpu_s": round(sum(j["cpu"] for j in in_batch), 3),
            "process_tree_cpu_s": round(batch_cpu.get(batch_id, 0.0), 3),
            "codegen_compilations": batch_codegen.get(batch_id), "steps": steps,
        })
    run_start, run_end = since, max(b for s in handler.spans.values() for _, _, b in s)
    outside = [j for j in jobs if run_start <= j["start"] <= run_end + 5
               and not any(s[1] <= j["start"] <= s[2] for sp in handler.spans.values() for s in sp if s[0] == "total")]
    result = {
        "method": __doc__.split("\n\n")[1].strip(),
        "files": files, "events_per_file": events, "files_per_batch": per_batch, "conf": conf or {},
        "stream_conf": {**original_conf, **(stream_conf or {})},
        "jit": os.environ.get("FITLAKE_JIT", "full"),
        "generated": generated,
        "run": {"elapsed_s": summary["elapsed_s"], "events_in": summary["events_in"],
                "process_tree_cpu_s": round(run_cpu, 2), "cpu_s_per_1k_events":
                    round(1000 * run_cpu / summary["events_in"], 3) if summary["events_in"] else None,
                "spark_jobs_outside_batches": len(outside), "cpu_s_by_thread": threads,
                "rows_added": summary["rows_added"],
                "step_ms_p95": summary["step_ms_p95"]},
        "batches": batches,
        "load_avg": list(os.getloadavg()),
    }
    if out is not None:
        out.write_text(json.dumps(result, indent=1) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.stream_profile", description=__doc__.splitlines()[0])
    p.add_argument("--work", default="/tmp/fitlake-stream-profile")
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--events", type=int, default=20_000, help="events per file (= per second of event time)")
    p.add_argument("--per-batch", type=int, default=2, help="files per micro-batch")
    p.add_argument("--out", default=None)
    p.add_argument("--stream-conf", action="append", default=[],
                   help="KEY=VALUE over fitlake.streaming.job.STREAM_CONF, the confs a run sets (repeatable)")
    p.add_argument("--conf", action="append", default=[], help="extra Spark conf KEY=VALUE (repeatable)")
    args = p.parse_args(argv)
    conf = dict(c.split("=", 1) for c in args.conf)
    result = profile(Path(args.work), args.files, args.events, args.per_batch, Path(args.out) if args.out else None,
                     conf, dict(c.split("=", 1) for c in args.stream_conf))
    for b in result["batches"]:
        print(f"batch {b['batch_id']}: {b['events']} events, {b['wall_s']} s, {b['spark_jobs']} jobs, "
              f"{b['sql_executions']} SQL, {b['delta_commits']} commits, task CPU {b['task_cpu_s']} s, "
              f"process tree CPU {b['process_tree_cpu_s']} s, {b['codegen_compilations']} codegen compilations")
        for name, s in sorted(b["steps"].items(), key=lambda kv: -kv[1]["s"]):
            print(f"   {name:16s} {s['s']:7.3f} s  jobs {s['jobs']:3d} ({s['jobs_s']:.3f} s, cpu {s['task_cpu_s']:.3f})"
                  f"  sql {s['sql']:3d}  {', '.join(s['commits'])}")
            for desc, n in sorted(s["job_descriptions"].items(), key=lambda kv: -kv[1]):
                print(f"      {n:3d} x {desc}")
    print(json.dumps(result["run"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
