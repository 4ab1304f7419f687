"""``fitlake bench``: B1..B6, one function per figure, each returning a dict that goes into bench.json.

Every job figure is measured on a real `fitlake run` subprocess (wall time includes interpreter and JVM start;
peak memory = max summed RSS of its process tree). Figures that need another engineer's code which is missing are
recorded as ``{"status": "unavailable", "reason": ...}``, never invented.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from datetime import date, timedelta
from pathlib import Path

from benchmarks.harness import REPO, Timer, cpu_probe_s, delta_rows, fitlake_command, machine, run_measured

REFERENCE_USERS, REFERENCE_DAYS, START = 1959, 183, date(2023, 4, 1)
SEED = 42
TARGETS = {
    "B1_wall_1x_s": 180.0,
    "B2_plus_one_day_ratio": 0.10,
    "B2_noop_ratio": 0.05,
    "B1_rss_1x_mb": 4096.0,  # issue #16: peak RSS <= 4 GB
    "B1_10x_over_1x": 10.0,  # 10x costs at most ten times 1x
    "B2_noop_wall_s": 3.0,
    "B3_merge_ratio": 1.5,
    "B4_events_per_s": 20_000.0,  # issue #16
    "B4_p95_s": 5.0,
    "B5_spark_over_duckdb_10x": 4.0,
    "B6_full_over_reference": 1.1,  # the incremental first load, at most 1.1 x a full-overwrite rebuild
    "B7_run_s": 30.0,
    "B7_train_s": 60.0,
    "B7_score_s": 30.0,
    "B7_noop_run_s": 3.0,
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------- landing / runs --


def ensure_landing(work: Path, scale: float, days: int = REFERENCE_DAYS) -> Path:
    """Generated once per (scale, days) and reused: the generator is deterministic, and not what we measure."""
    from fitlake.generate import MANIFEST, generate_landing

    landing = work / f"landing_{scale:g}x"
    manifest = landing / MANIFEST
    if manifest.is_file():
        args = json.loads(manifest.read_text())["arguments"]
        if args["users"] == round(REFERENCE_USERS * scale) and args["days"] == days:
            return landing
    shutil.rmtree(landing, ignore_errors=True)
    log(f"generating landing at {scale:g}x ({round(REFERENCE_USERS * scale):,} users x {days} days) into {landing}")
    with Timer() as t:
        generate_landing(landing, users=REFERENCE_USERS, days=days, scale=scale, seed=SEED, progress=False)
    log(f"generated in {t.s:.0f} s")
    (landing.parent / f"{landing.name}.generated_s").write_text(f"{t.s:.1f}\n")
    return landing


def add_next_day(landing: Path, scale: float) -> tuple[date, list[Path]]:
    """One more day after the landing's last: same users (the generator derives them from the seed alone), the
    generator's own day-0 draw, dated the next day; written into the landing's own folders. Returns the files
    added (``remove_files`` takes them out again, so the cached landing stays what its manifest says)."""
    from fitlake.generate import MANIFEST, generate_landing

    last = date.fromisoformat(json.loads((landing / MANIFEST).read_text())["dates"]["last"])
    next_day = last + timedelta(days=1)
    added = []
    with tempfile.TemporaryDirectory(dir=landing.parent) as tmp:
        generate_landing(tmp, users=REFERENCE_USERS, days=1, scale=scale, seed=SEED, start=next_day, progress=False)
        for path in sorted(Path(tmp).rglob("*")):
            if path.is_file() and path.name != MANIFEST:
                dest = landing / path.relative_to(tmp)
                if not dest.exists():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, dest)
                    added.append(dest)
    return next_day, added


def remove_files(landing: Path, files: list[Path]) -> None:
    for f in files:
        f.unlink(missing_ok=True)
        parent = f.parent
        while parent != landing and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def fitlake_run(root: Path, landing: Path, *extra: str):
    # The synthetic exports are written month-first, as Fitbit writes them; a one-day file whose days are all 12 or
    # less cannot show its order, so the run is told (as a person running fitlake on such files would be).
    res = run_measured([*fitlake_command(), "run", "--root", str(root), "--landing", str(landing), "--no-generate",
                        "--date-order", "month_first", *extra], env={"PYTHONUNBUFFERED": "1"}).check(log_dir=root.parent / "logs")
    spark_ready = re.search(r"Spark ready in ([0-9.]+) s", res.stdout)
    return res, float(spark_ready.group(1)) if spark_ready else None


def layer_rows(root: Path, layer: str) -> dict[str, int]:
    base = root / layer
    return {p.name: delta_rows(p) for p in sorted(base.iterdir()) if (p / "_delta_log").is_dir()} if base.is_dir() else {}


def run_log(root: Path) -> list[dict]:
    from deltalake import DeltaTable

    return DeltaTable(str(root / "ops" / "run_log")).to_pandas().to_dict("records")


def stage_figures(root: Path, bronze_before: int = 0, run_id: str | None = None) -> dict:
    """Seconds and rows per stage of the latest run (ops.run_log), rows/s = rows written by the stage / seconds.

    The run log has no per-source ingest rows, so ingest's rows are bronze's growth: ``bronze_before`` is the
    bronze total before the run (0 for a full load)."""
    rows = run_log(root)
    run_id = run_id or max(rows, key=lambda r: r["logged_at"])["run_id"]
    mine = [r for r in rows if r["run_id"] == run_id]
    seconds = {r["stage"]: r["seconds"] for r in mine if r["table_name"] is None}
    bronze = sum(layer_rows(root, "bronze").values()) - bronze_before
    silver_in = sum(int(r["rows_in"] or 0) for r in mine if r["stage"] == "silver" and r["table_name"])
    gold_out = sum(int((r["inserted"] or 0) + (r["updated"] or 0)) for r in mine if r["stage"] == "gold" and r["table_name"])
    rows_by_stage = {"ingest": bronze, "silver": silver_in, "gold": gold_out}
    return {
        "run_id": run_id,
        "stages": {
            s: {"seconds": round(sec, 2), "rows": rows_by_stage.get(s),
                "rows_per_s": round(rows_by_stage[s] / sec) if rows_by_stage.get(s) and sec else None}
            for s, sec in seconds.items()
        },
        "per_table_seconds": {r["table_name"]: round(r["seconds"], 2) for r in mine if r["table_name"]},
    }


# ------------------------------------------------------------------------------------------------------ figures --


def b1_full_load(ctx: dict, scale: float) -> dict:
    """Landing -> gold on an empty lakehouse, one `fitlake run` subprocess."""
    landing = ensure_landing(ctx["work"], scale)
    root = ctx["work"] / f"lake_{scale:g}x"
    shutil.rmtree(root, ignore_errors=True)
    log(f"B1 {scale:g}x: fitlake run (full load)")
    res, spark_ready = fitlake_run(root, landing)
    out = {
        "scale": scale, "users": round(REFERENCE_USERS * scale), "days": REFERENCE_DAYS,
        "landing_mb": round(sum(p.stat().st_size for p in landing.rglob("*") if p.is_file()) / 2**20, 1),
        "generate_s": _generated_s(landing),
        "wall_s": round(res.wall_s, 1), "spark_start_s": spark_ready, "peak_rss_mb": round(res.peak_rss_mb),
        "rows": {layer: sum(layer_rows(root, layer).values()) for layer in ("bronze", "silver", "quarantine", "gold")},
        **stage_figures(root),
    }
    ctx.setdefault("lakes", {})[scale] = (root, landing, out)
    log(f"B1 {scale:g}x: {out['wall_s']} s, peak {out['peak_rss_mb']} MB")
    return out


def _generated_s(landing: Path) -> float | None:
    """How long the generator took for this landing (written when the bench generated it; None when reused)."""
    mark = landing.parent / f"{landing.name}.generated_s"
    return float(mark.read_text()) if mark.is_file() else None


def b2_incremental(ctx: dict, scale: float) -> dict:
    """+1 day after the full load, then a rerun with nothing new; each as a ratio of B1's full run."""
    if scale not in ctx.get("lakes", {}):
        return {"status": "unavailable", "reason": f"B1 at {scale:g}x did not run"}
    root, landing, b1 = ctx["lakes"][scale]
    next_day, added = add_next_day(landing, scale)
    try:
        log(f"B2 {scale:g}x: fitlake run (+1 day {next_day}, {len(added)} files)")
        inc, inc_ready = fitlake_run(root, landing)
        inc_stages = stage_figures(root, bronze_before=b1["rows"]["bronze"])
        after_inc = sum(layer_rows(root, "bronze").values())
        log("B2: fitlake run (no-op rerun)")
        noop, noop_ready = fitlake_run(root, landing)
        # a no-op decided without Spark logs no run: its stages are the latest run's only if it logged one
        noop_stages = stage_figures(root, bronze_before=after_inc)
        if noop_stages["run_id"] == inc_stages["run_id"]:
            noop_stages = {"stages": {}}
    finally:
        remove_files(landing, added)  # the lakehouse keeps the day; the cached landing is 183 days again
    full = b1["wall_s"]
    full_in_spark = full - (b1["spark_start_s"] or 0)
    out = {
        "day_added": str(next_day),
        "plus_one_day_wall_s": round(inc.wall_s, 1),
        "plus_one_day_ratio": round(inc.wall_s / full, 4),
        "plus_one_day_ratio_excl_spark_start": round((inc.wall_s - (inc_ready or 0)) / full_in_spark, 4),
        "plus_one_day_stages": inc_stages["stages"],
        "noop_wall_s": round(noop.wall_s, 1),
        "noop_ratio": round(noop.wall_s / full, 4),
        "noop_ratio_excl_spark_start": round((noop.wall_s - (noop_ready or 0)) / full_in_spark, 4),
        "noop_stages": noop_stages["stages"],
        "plus_one_day_spark_start_s": inc_ready,
        "noop_spark_start_s": noop_ready,
    }
    ctx["b2"] = out
    return out


def b3_merge_scaling(ctx: dict) -> dict:
    from benchmarks.merge_bench import measure_merge_scaling

    if 1.0 not in ctx.get("lakes", {}):
        return {"status": "unavailable", "reason": "needs B1 at 1x (its silver.activity is the 1x history)"}
    root = ctx["lakes"][1.0][0]
    ten = ctx["lakes"].get(10.0, (None,))[0]
    log("B3: MERGE of one day into 1x vs 10x history")
    return measure_merge_scaling(ctx["work"] / "b3", root, ten)


def b4_streaming(ctx: dict) -> dict:
    """In its own process like B1: a Spark session started in the bench process kept its JVM (2 GB) alive, idle,
    through the 10x load that followed."""
    log("B4: streaming throughput")
    work = ctx["work"] / "b4"
    shutil.rmtree(work, ignore_errors=True)  # a kept --workdir holds the last run's checkpoints
    out = ctx["work"] / "b4.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "fitlake.streaming.bench", "--work", str(work), "--out", str(out)]
    res = run_measured([*argv, *(["--quick"] if ctx["quick"] else [])], env={"PYTHONUNBUFFERED": "1"})
    res.check(log_dir=ctx["work"] / "logs")
    return {**json.loads(out.read_text()), "peak_rss_mb": round(res.peak_rss_mb)}


def b5_duckdb(ctx: dict) -> dict:
    from benchmarks.duckdb_ref import check_against_spark, run_reference
    from fitlake.config import DEFAULT_STEP_GOAL

    out = {"how": "silver's current Parquet files (resolved with delta-rs) scanned by DuckDB as Arrow datasets, gold "
                  "computed by DuckDB SQL, written back with delta-rs (DuckDB's delta extension needs a download that "
                  "is not reachable here)"}
    for scale, (root, _, b1) in sorted(ctx.get("lakes", {}).items()):
        log(f"B5 {scale:g}x: DuckDB reference")
        shutil.rmtree(ctx["work"] / f"b5_{scale:g}x", ignore_errors=True)
        ref = run_reference(root, ctx["work"] / f"b5_{scale:g}x", DEFAULT_STEP_GOAL)
        check = check_against_spark(ref.pop("connection"), root)
        spark_gold = b1["stages"].get("gold", {}).get("seconds")
        out[f"{scale:g}x"] = {
            "duckdb_s": round(ref["timings"]["total_s"], 2),
            "duckdb_timings": {k: round(v, 2) for k, v in ref["timings"].items()},
            "silver_rows_in": ref["rows_in"],
            "spark_gold_stage_s": spark_gold,
            "ratio_spark_over_duckdb": round(spark_gold / ref["timings"]["total_s"], 2) if spark_gold else None,
            "same_results": all(v.get("match", False) for v in check.values()),
            "check": check,
        }
    if len(out) == 1:
        return {"status": "unavailable", "reason": "needs B1 (its silver tables)"}
    return out


def b6_full_rebuild(ctx: dict) -> dict:
    """The reference ETL (read every landing file, overwrite silver and gold) vs fitlake's incremental +1 day run."""
    if 1.0 not in ctx.get("lakes", {}) or "b2" not in ctx:
        return {"status": "unavailable", "reason": "needs B1 and B2 at 1x"}
    _, landing, b1 = ctx["lakes"][1.0]
    root = ctx["work"] / "b6_reference"
    shutil.rmtree(root, ignore_errors=True)
    log("B6: reference full-overwrite rebuild")
    res = run_measured([sys.executable, "-m", "benchmarks.reference_etl", "--root", str(root), "--landing",
                        str(landing)], cwd=REPO, env={"PYTHONPATH": str(REPO)}).check(log_dir=root.parent / "logs")
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    inc = ctx["b2"]["plus_one_day_wall_s"]
    return {
        "reference_wall_s": round(res.wall_s, 1),
        "reference_peak_rss_mb": round(res.peak_rss_mb),
        "reference_rows": {layer: sum(layer_rows(root, layer).values()) for layer in ("silver", "quarantine", "gold")},
        "reference_stage_s": summary.get("seconds"),
        "fitlake_plus_one_day_wall_s": inc,
        "fitlake_full_wall_s": b1["wall_s"],
        "ratio_reference_over_incremental": round(res.wall_s / inc, 2),
        "ratio_reference_over_fitlake_full": round(res.wall_s / b1["wall_s"], 2),
    }


REAL_EXPORT = Path(os.environ.get("FITLAKE_REAL_EXPORT")
                   or REPO.parent / "shared" / "datasets" / "fitbit-kaggle" / "2016-04-12_2016-05-12")
B7_COMMANDS = (("run", ("--no-generate",)), ("train", ("--source", "fitbit")), ("score", ()))


def b7_real_export(ctx: dict, export: Path = REAL_EXPORT) -> dict:
    """The shared real export (33 users, April-May 2016) from an empty lakehouse: `fitlake run`, `train` and
    `score`, each its own subprocess (wall incl. interpreter and JVM start), then `run` again (the no-op)."""
    if not export.is_dir():
        return {"status": "unavailable", "reason": f"the real export is not at {export}"}
    landing = ctx["work"] / "landing_real" / "fitbit" / export.parent.name
    if not landing.is_dir():
        landing.mkdir(parents=True)
        for f in sorted(export.glob("*.csv")):
            shutil.copy2(f, landing / f.name)
    landing = landing.parent.parent
    root = ctx["work"] / "lake_real"
    shutil.rmtree(root, ignore_errors=True)
    out = {"export": export.name, "rows": None, "commands": {}}
    for name, extra in (*B7_COMMANDS, ("run", ("--no-generate",))):
        key = name if name not in out["commands"] else "noop_run"
        log(f"B7: fitlake {name}")
        res = run_measured([*fitlake_command(), name, "--root", str(root), "--landing", str(landing), *extra],
                           env={"PYTHONUNBUFFERED": "1"}).check(log_dir=root.parent / "logs_real")
        out["commands"][key] = {"wall_s": round(res.wall_s, 1), "cpu_s": res.cpu_s, "peak_rss_mb": round(res.peak_rss_mb)}
    out["rows"] = {layer: sum(layer_rows(root, layer).values()) for layer in ("bronze", "silver", "gold")}
    log(f"B7: {out['commands']}")
    return out


B8_DAYS = 31  # B8's own landing when no B1 lakehouse is at hand: a month at the run's scale
B8_EVENT_SECONDS, B8_FILES_PER_TRIGGER = 120, 4  # 120 one-second event files streamed in 30 micro-batches


def b8_maintain(ctx: dict) -> dict:
    """Files per table and gold query times before/after `fitlake maintain` on a streamed lakehouse: B1's lakehouse
    at the run's first scale after B2's incremental runs (a copy), or — with ``--only B8`` — a fresh `fitlake run`
    over a month of landing at that scale; then a stream of generated live events drained in many small
    micro-batches (every batch commits small files to bronze/silver events, windows, daily totals and alerts).
    The maintain and the timings run in their own process like B1/B4."""
    scale = ctx.get("scale", 1.0)
    root = ctx["work"] / "b8_lakehouse"
    shutil.rmtree(root, ignore_errors=True)
    logs = ctx["work"] / "logs"
    if scale in ctx.get("lakes", {}):
        lake, landing, _ = ctx["lakes"][scale]
        shutil.copytree(lake, root, ignore=shutil.ignore_patterns("landing", "_run.lock"))
        built = f"copy of B1's {scale:g}x lakehouse after B2"
    else:
        landing = ensure_landing(ctx["work"], scale, days=B8_DAYS)
        log(f"B8: fitlake run at {scale:g}x ({B8_DAYS} days)")
        fitlake_run(root, landing)
        built = f"fitlake run over {round(REFERENCE_USERS * scale)} users x {B8_DAYS} days ({scale:g}x)"
    events = ctx["work"] / "b8_events"
    shutil.rmtree(events, ignore_errors=True)
    users = max(10, round(REFERENCE_USERS * scale))
    run_measured([*fitlake_command(), "generate-events", "--out", str(events), "--rate", "50",
                  "--duration", str(B8_EVENT_SECONDS), "--users", str(users), "--no-realtime"]).check(log_dir=logs)
    log(f"B8: streaming {B8_EVENT_SECONDS} event files, {B8_FILES_PER_TRIGGER} per micro-batch")
    stream = run_measured([*fitlake_command(), "stream", "--available-now", "--root", str(root), "--landing",
                           str(events), "--max-files-per-trigger", str(B8_FILES_PER_TRIGGER), "--json"],
                          env={"PYTHONUNBUFFERED": "1"}).check(log_dir=logs)
    out = ctx["work"] / "b8.json"
    out.unlink(missing_ok=True)
    log("B8: fitlake maintain before/after")
    pythonpath = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    res = run_measured([sys.executable, "-m", "benchmarks.maintain_bench", "--root", str(root), "--out", str(out)],
                       cwd=REPO, env={"PYTHONPATH": pythonpath}).check(log_dir=logs)
    shutil.rmtree(root, ignore_errors=True)
    return {**json.loads(out.read_text()), "lakehouse": built,
            "streamed": {"event_files": B8_EVENT_SECONDS, "files_per_trigger": B8_FILES_PER_TRIGGER,
                         "users": users, "stream_wall_s": round(stream.wall_s, 1)},
            "peak_rss_mb": round(res.peak_rss_mb)}


def dashboard_first_render(ctx: dict) -> dict:
    try:
        from fitlake.dashboard.bench import measure_home_first_render
    except ImportError as e:
        return {"status": "unavailable", "reason": f"fitlake.dashboard.bench is missing ({e})"}
    if 1.0 not in ctx.get("lakes", {}):
        return {"status": "unavailable", "reason": "needs B1 at 1x"}
    root = ctx["lakes"][1.0][0]
    log("dashboard: first render of Home on the 1x lakehouse")
    return {"seconds": round(measure_home_first_render(root), 2), "lakehouse": "B1 1x (after B2's extra day)"}


# ----------------------------------------------------------------------------------------------------- headline --


def _met(value, target, lower_is_better=True):
    if value is None:
        return None
    return value <= target if lower_is_better else value >= target


def headline(figures: dict) -> list[dict]:
    rows = []

    def add(fig, metric, value, target=None, key=None, unit="", higher=False):
        t = TARGETS.get(key) if key else None
        rows.append({"figure": fig, "metric": metric, "value": value, "unit": unit,
                     "target": (f"{'≥' if higher else '≤'} {t:g}{(' ' + unit) if unit else ''}" if t is not None else target),
                     "met": _met(value, t, not higher) if t is not None else None})

    b1 = figures.get("B1", {})
    for key, run in b1.items():
        if isinstance(run, dict) and "wall_s" in run:
            add("B1", f"full load {key} ({run['users']:,} users x {run['days']} d): wall incl. JVM start",
                run["wall_s"], key="B1_wall_1x_s" if key == "1x" else None, unit="s")
            add("B1", f"full load {key}: peak memory (process tree RSS)", run["peak_rss_mb"],
                key="B1_rss_1x_mb" if key == "1x" else None, unit="MB")
            for stage, s in run.get("stages", {}).items():
                add("B1", f"full load {key}: {stage} rows/s", s.get("rows_per_s"))
    if all(isinstance(b1.get(k), dict) and "wall_s" in b1[k] for k in ("1x", "10x")):
        add("B1", "full load 10x / 1x (wall)", round(b1["10x"]["wall_s"] / b1["1x"]["wall_s"], 2),
            key="B1_10x_over_1x")
    b2 = figures.get("B2", {}).get("1x", {})
    if "plus_one_day_ratio" in b2:
        add("B2", "+1 day, share of the full run (wall)", b2["plus_one_day_ratio"], key="B2_plus_one_day_ratio")
        add("B2", "no-op rerun, share of the full run (wall)", b2["noop_ratio"], key="B2_noop_ratio")
        if "noop_wall_s" in b2:
            add("B2", "no-op rerun: wall incl. interpreter", b2["noop_wall_s"], key="B2_noop_wall_s", unit="s")
    b3 = figures.get("B3", {})
    if "ratio_10x_over_1x" in b3:
        add("B3", "one-day MERGE into 10x vs 1x history", b3["ratio_10x_over_1x"], key="B3_merge_ratio")
    b4 = figures.get("B4", {})
    if isinstance(b4, dict) and b4.get("rates"):
        # Sustained = kept up with (no backlog growing): the best of the rates the job kept up with. A rate it fell
        # behind on measures how fast it drained a growing backlog, whose latency has no bound: that one is the
        # figure only when no rate was kept up with, and then it is not judged as sustained (met: False).
        kept_rows = [r for r in b4["rates"] if r.get("kept_up")]
        best = max(kept_rows or b4["rates"], key=lambda r: r.get("events_per_s") or 0)
        label = (f"sustained events/s (best of the offered rates kept up with: {best.get('input_rate'):,}/s)"
                 if kept_rows else f"events/s, no offered rate kept up with (best: {best.get('input_rate'):,}/s)")
        add("B4", label, best.get("events_per_s"), key="B4_events_per_s", higher=True)
        if not kept_rows and best.get("events_per_s") is not None:
            rows[-1]["met"] = False
        add("B4", "micro-batch latency p95 at that rate", best.get("latency_p95_s"), key="B4_p95_s", unit="s")
        kept = [r["input_rate"] for r in kept_rows]
        add("B4", "highest offered rate the job kept up with (0 = none)", max(kept, default=0), unit="events/s")
    b5 = figures.get("B5", {})
    for key in ("1x", "10x"):
        if isinstance(b5.get(key), dict):
            add("B5", f"Spark gold stage / DuckDB at {key}", b5[key]["ratio_spark_over_duckdb"],
                key="B5_spark_over_duckdb_10x" if key == "10x" else None)
    b8 = figures.get("B8", {})
    if "total_files_before" in b8:
        add("B8", "data files in all tables, before fitlake maintain", b8["total_files_before"])
        add("B8", "data files in all tables, after fitlake maintain", b8["total_files_after"])
        add("B8", "gold query (hourly x dim_user), before maintain", b8["gold_query_s_before"], unit="s")
        add("B8", "gold query (hourly x dim_user), after maintain", b8["gold_query_s_after"], unit="s")
    b6 = figures.get("B6", {})
    if "ratio_reference_over_incremental" in b6:
        add("B6", "full-overwrite rebuild / fitlake +1 day run", b6["ratio_reference_over_incremental"])
    if "ratio_reference_over_fitlake_full" in b6:  # the other side: a first load costs more than one rebuild
        add("B6", "full-overwrite rebuild / fitlake full load (empty lakehouse)",
            b6["ratio_reference_over_fitlake_full"])
        if b6["ratio_reference_over_fitlake_full"]:
            add("B6", "fitlake full load / full-overwrite rebuild", round(1 / b6["ratio_reference_over_fitlake_full"], 2),
                key="B6_full_over_reference")
    if "reference_wall_s" in b6:
        add("B6", "full-overwrite rebuild: wall incl. JVM start", b6["reference_wall_s"], unit="s")
    b7 = figures.get("B7", {})
    for key, label in (("run", "fitlake run"), ("train", "fitlake train"), ("score", "fitlake score"),
                       ("noop_run", "fitlake run again (nothing new)")):
        if isinstance(b7.get("commands", {}).get(key), dict):
            add("B7", f"real export (33 users) from empty: {label}, wall incl. JVM start",
                b7["commands"][key]["wall_s"], key=f"B7_{key}_s", unit="s")
    d = figures.get("dashboard", {})
    if isinstance(d, dict) and d.get("seconds") is not None:
        add("dashboard", "home page first render", d["seconds"], unit="s")
    return rows


# --------------------------------------------------------------------------------------------------------- main --


def _guard(name: str, fn, *args) -> dict:
    try:
        return fn(*args)
    except Exception as e:  # one figure failing must not lose the others
        log(f"{name} FAILED: {type(e).__name__}: {e}")
        return {"status": "failed", "reason": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                "traceback": traceback.format_exc()[-4000:]}


def main(scale: float = 1.0, out: str = "bench.json", only: set[str] | None = None, quick: bool = False,
         workdir: str | None = None, keep: bool = False, readme: str | None = None) -> int:
    from benchmarks.report import EXPECTED, render, update_readme

    os.environ.setdefault("FITLAKE_JARS_DIR", str(REPO / ".cache" / "jars"))
    work = Path(workdir or tempfile.mkdtemp(prefix="fitlake-bench-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    want = (lambda f: only is None or f in only)
    scales = [scale] if quick or scale != 1.0 else [1.0, 10.0]
    ctx = {"work": work, "quick": quick, "scale": scales[0]}
    started = time.perf_counter()
    expected = [f for f in EXPECTED if ((only is None or "DASHBOARD" in only) if f == "dashboard" else want(f))]
    bench = {"command": "fitlake bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 1 else "fitlake bench",
             "machine": machine(), "scales": scales, "targets": TARGETS, "expected": expected, "figures": {}}
    figures = bench["figures"]

    def save(last: bool = False) -> None:
        bench["total_s"] = round(time.perf_counter() - started, 1)
        if last:  # the machine's speed at the end too: a long run can span a slow and a fast hour
            bench["machine"]["cpu_probe_end_s"] = cpu_probe_s()
        bench["headline"] = headline(figures)
        Path(out).write_text(json.dumps(bench, indent=1, default=str) + "\n")

    # The 1x figures first (B1, B2, B4, B6, dashboard), then the long 10x load, then what compares 1x with 10x
    # (B3, B5): an interrupted full run still leaves every 1x figure in the JSON.
    if want("B1") or want("B2") or want("B3") or want("B5") or want("B6"):
        first = scales[0]
        figures["B1"] = {f"{first:g}x": _guard(f"B1 {first:g}x", b1_full_load, ctx, first)}
        if want("B2") or want("B6"):
            figures["B2"] = {f"{first:g}x": _guard("B2", b2_incremental, ctx, first)}
        save()
    def measure(name: str, fn) -> None:
        if name in expected:
            figures[name] = _guard(name, fn, ctx)
            save()

    measure("B4", b4_streaming)
    measure("B6", b6_full_rebuild)
    measure("dashboard", dashboard_first_render)
    measure("B7", b7_real_export)
    measure("B8", b8_maintain)
    if "B1" in figures:
        for s in scales[1:]:
            figures["B1"][f"{s:g}x"] = _guard(f"B1 {s:g}x", b1_full_load, ctx, s)
            save()
        if quick:
            figures["B1"]["10x"] = {"status": "skipped", "reason": "--quick skips the 10x runs (and B5 at 10x)"}
    measure("B3", b3_merge_scaling)
    measure("B5", b5_duckdb)
    save(last=True)
    md = render(bench)
    print(md)
    if readme:
        update_readme(Path(readme), bench, str(out))
    if not keep and workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    log(f"wrote {out}")
    return 0
