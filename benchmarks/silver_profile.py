"""Where silver's first load of ONE table spends its CPU: ``process_table`` on a copy of one loaded bronze table, in
one JVM, with each step of ``silver.job.process_batch`` timed (wall, CPU of this process and its JVM, Spark jobs,
Delta commits), then probes that take the batch apart (bronze read, typing, the DISK_ONLY persist, the write).

    python -m benchmarks.silver_profile --base LAKE --table hourly_steps [--probes [--recompute]] [--jfr FILE] > profile.json

``LAKE``: a lakehouse whose bronze is loaded (``fitlake run --stage ingest``); only ``bronze/<table>`` is copied
(to ``--work``). CPU seconds are the process tree's (Python + JVM), which hold up on a busy machine; wall does not.

``--jfr FILE``: a Java Flight Recorder recording (``settings=profile``) of the JVM over ``process_table`` (not the
probes) into FILE, and its execution samples summed into the JSON (``jfr``): the hottest methods by own samples
and by samples anywhere on the stack (``jfr_summary``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import tree_cpu_seconds, tree_pids, tree_rss_bytes


def _cpu() -> float:
    return sum(tree_cpu_seconds(tree_pids(os.getpid())).values())


def _rss_mb() -> float:
    return tree_rss_bytes(tree_pids(os.getpid())) / 2**20


class Steps:
    """Each step's wall, process-tree CPU and Spark jobs (a job group per step); nested steps are not counted twice
    (an outer step's figures exclude its inner ones)."""

    def __init__(self, spark):
        self.spark = spark
        self.rows: list[dict] = []
        self.stack: list[dict] = []
        self.n = 0
        self.peak_rss_mb = 0.0

    @contextlib.contextmanager
    def step(self, name: str):
        sc = self.spark.sparkContext
        self.n += 1
        group = f"p{self.n}-{name}"
        outer = self.stack[-1] if self.stack else None
        row = {"step": name, "wall_s": 0.0, "cpu_s": 0.0, "jobs": 0, "commits": 0, "_inner_wall": 0.0,
               "_inner_cpu": 0.0}
        self.stack.append(row)
        sc.setJobGroup(group, name)
        w0, c0 = time.perf_counter(), _cpu()
        try:
            yield row
        finally:
            wall, cpu = time.perf_counter() - w0, _cpu() - c0
            self.peak_rss_mb = max(self.peak_rss_mb, _rss_mb())
            row["wall_s"] = round(wall - row.pop("_inner_wall"), 2)
            row["cpu_s"] = round(cpu - row.pop("_inner_cpu"), 2)
            row["jobs"] = len(sc.statusTracker().getJobIdsForGroup(group))
            self.stack.pop()
            if outer is not None:
                outer["_inner_wall"] += wall
                outer["_inner_cpu"] += cpu
                sc.setJobGroup(f"p{self.n}-{outer['step']}-rest", outer["step"])
                outer.setdefault("_groups", []).append(f"p{self.n}-{outer['step']}-rest")
            else:
                sc.setJobGroup("none", "none")
            extra = row.pop("_groups", [])
            row["jobs"] += sum(len(sc.statusTracker().getJobIdsForGroup(g)) for g in extra)
            self.rows.append(row)


def _commits(table_path: Path) -> list[str]:
    log = table_path / "_delta_log"
    out = []
    for f in sorted(log.glob("*.json")) if log.is_dir() else []:
        for line in f.read_text().splitlines():
            if '"commitInfo"' in line:
                out.append(json.loads(line)["commitInfo"]["operation"])
    return out


def _jvm_pid() -> int:
    """The JVM this process started (the Py4J gateway): the one java process in its tree."""
    for pid in tree_pids(os.getpid()):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/exe").resolve().name == "java":
                return pid
    raise RuntimeError("no JVM under this process")


def _jcmd(pid: int, *words: str) -> None:
    subprocess.run(["jcmd", str(pid), *words], check=True, capture_output=True, text=True)


def jfr_summary(recording: Path, top: int = 40) -> dict:
    """Execution samples of ``recording`` (``jfr print --json``): counts by thread kind, and the ``top`` methods by
    own (top-frame) samples and by inclusive samples (a method counted once per sample however often it recurs)."""
    out = subprocess.run(["jfr", "print", "--json", "--events", "jdk.ExecutionSample", str(recording)],
                         check=True, capture_output=True, text=True).stdout
    events = json.loads(out)["recording"]["events"]
    own: dict[str, int] = {}
    anywhere: dict[str, int] = {}
    threads: dict[str, int] = {}
    for e in events:
        v = e["values"]
        name = (v.get("sampledThread") or {}).get("javaName") or "?"
        kind = "executor" if name.startswith("Executor task launch") else name.split("-")[0].strip()
        threads[kind] = threads.get(kind, 0) + 1
        frames = [f"{f['method']['type']['name']}.{f['method']['name']}" for f in (v.get("stackTrace") or {}).get(
            "frames", [])]
        if not frames:
            continue
        own[frames[0]] = own.get(frames[0], 0) + 1
        for f in set(frames):
            anywhere[f] = anywhere.get(f, 0) + 1
    best = lambda d: sorted(d.items(), key=lambda kv: -kv[1])[:top]  # noqa: E731
    return {"samples": len(events), "threads": dict(best(threads)), "own": dict(best(own)),
            "inclusive": dict(best(anywhere))}


def profile_table(spark, settings, name: str, steps: Steps) -> dict:
    """``process_table(name)`` with its batch steps wrapped (the code under test is called as is)."""
    from fitlake import delta_io
    from fitlake.silver import job
    from fitlake.silver import merge as M

    wrapped = {
        (job, "survey_keys"): "survey_keys (bronze read + typing + DISK_ONLY persist + rollup)",
        (job, "checked_from_typed"): "checked_from_typed",
        (job.M, "create_with"): "create_with (CTAS)",
        (job.M, "upsert"): "upsert (classify + MERGE/append)",
        (job.delta_io, "write"): "delta_io.write (quarantine append)",
        (job, "read_bronze_changes"): "read_bronze_changes (plan)",
    }
    saved = {}
    for (mod, attr), label in wrapped.items():
        fn = getattr(mod, attr)
        saved[(mod, attr)] = fn

        def wrapper(*a, __fn=fn, __label=label, **kw):
            with steps.step(__label):
                return __fn(*a, **kw)

        setattr(mod, attr, wrapper)
    try:
        with steps.step("process_table (rest: suppression, stats, state files, unpersist)"):
            counts = job.process_table(spark, settings, name)
    finally:
        for (mod, attr), fn in saved.items():
            setattr(mod, attr, fn)
    del delta_io, M
    return {"batches": counts.batches, "rows_in": counts.rows_in, "inserted": counts.inserted,
            "duplicates": counts.duplicates, "quarantined": counts.quarantined, "reconciles": counts.reconciles}


def probes(spark, settings, name: str, steps: Steps, work: Path, recompute: bool = False) -> None:
    """Take the batch apart on the same bronze rows: each probe is one job over the whole table."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from fitlake.silver import job
    from fitlake.silver import transforms as T
    from fitlake.silver.expectations import RULES
    from fitlake.silver.specs import SPECS

    spec = SPECS[name]
    ref = settings.table("bronze", name)
    version = job.M.table_version(spark, ref)
    cdf = lambda: job.read_bronze_changes(spark, ref, 0, version)  # noqa: E731
    typed = lambda: job.typed_rows(cdf(), spec, RULES[name], settings.date_order)  # noqa: E731

    def noop(df):
        df.write.format("noop").mode("overwrite").save()

    with steps.step("probe: bronze change feed read -> noop"):
        noop(cdf())
    with steps.step("probe: bronze plain Delta read -> noop"):
        noop(spark.read.format("delta").load(ref.path))
    with steps.step("probe: typed_rows (parse + rules) -> noop"):
        noop(typed())
    with steps.step("probe: typed_rows, dates not parsed -> noop"):
        cols = [c if "date" not in c.kind else type(c)(c.name, c.source, "string") for c in spec.columns]
        noop(cdf().transform(T.with_typed_columns, cols, settings.date_order))
    with steps.step("probe: typed_rows persist DISK_ONLY + count"):
        t = typed().persist(StorageLevel.DISK_ONLY)
        t.count()
    with steps.step("probe: survey_keys over the persisted rows"):
        job.survey_keys(t, spec.keys, spec.prune_column)
    with steps.step("probe: read the persisted rows back -> noop"):
        noop(t)
    silver_cols = [c.name for c in spec.columns]
    winners = lambda df: T.to_silver_rows(df.where(F.col("_rule").isNull()), silver_cols, spec.features)  # noqa
    from fitlake.config import TableRef
    from fitlake.sqltext import table_clause

    with steps.step("probe: silver rows from the persisted rows -> plain Delta write"):
        winners(t).write.format("delta").save(str(work / "probe_plain"))
    for label, clause in (("CTAS, CDF on, no CLUSTER BY", table_clause(properties=job.SILVER_PROPERTIES)),
                          ("CTAS, CLUSTER BY + CDF (as the job)",
                           table_clause(cluster_by=spec.cluster_by, properties=job.SILVER_PROPERTIES))):
        n = len(steps.rows)
        probe = TableRef("silver", f"probe{n}", f"silver.probe{n}", str(work / f"probe_{n}"))
        with steps.step(f"probe: silver rows from the persisted rows -> {label}"):
            job.delta_io.create_from(winners(t), probe, clause)
    t.unpersist()
    if recompute:  # the rows recomputed from bronze instead of read back from disk (slow: minutes at 1x)
        with steps.step("probe: silver rows recomputed from bronze -> plain Delta write"):
            winners(typed()).write.format("delta").save(str(work / "probe_plain2"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--table", default="hourly_steps")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fitlake-silver-profile"))
    parser.add_argument("--probes", action="store_true")
    parser.add_argument("--recompute", action="store_true", help="with --probes: also the rows recomputed from bronze")
    parser.add_argument("--date-order", default="month_first")
    parser.add_argument("--jfr", type=Path, help="record process_table with Java Flight Recorder into this file")
    args = parser.parse_args(argv)
    from fitlake.config import Settings
    from fitlake.spark import get_spark

    shutil.rmtree(args.work, ignore_errors=True)
    root = args.work / "lake"
    shutil.copytree(args.base / "bronze" / args.table, root / "bronze" / args.table)
    settings = Settings(root=root, landing=args.work / "landing", date_order=args.date_order)
    w0, c0 = time.perf_counter(), _cpu()
    spark = get_spark(settings, app_name="silver-profile")
    start = {"wall_s": round(time.perf_counter() - w0, 2), "cpu_s": round(_cpu() - c0, 2)}
    steps = Steps(spark)
    load = os.getloadavg()
    jvm = _jvm_pid() if args.jfr else None
    if jvm:
        _jcmd(jvm, "JFR.start", "name=silver_profile", "settings=profile")
    counts = profile_table(spark, settings, args.table, steps)
    if jvm:
        _jcmd(jvm, "JFR.stop", "name=silver_profile", f"filename={args.jfr.resolve()}")
    silver = root / "silver" / args.table
    commits = {"silver": _commits(silver), "quarantine": _commits(root / "quarantine" / args.table)}
    files = sorted(silver.glob("*.parquet"))
    if args.probes:
        probes(spark, settings, args.table, steps, args.work, args.recompute)
    spark.stop()
    out = {"table": args.table, "base": str(args.base), "date_order": args.date_order, "python": sys.version.split()[0],
           "load_avg_before": load, "load_avg_after": os.getloadavg(), "spark_start": start, "counts": counts,
           "commits": commits, "silver_files": len(files), "silver_bytes": sum(f.stat().st_size for f in files),
           "peak_rss_mb": round(steps.peak_rss_mb), "steps": steps.rows}
    if args.jfr:
        out["jfr"] = {"file": str(args.jfr), **jfr_summary(args.jfr)}
    print(json.dumps(out, indent=1))
    shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
