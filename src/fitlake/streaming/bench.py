"""Streaming throughput and micro-batch latency on this machine, called by ``benchmarks/`` (figure B4).

Two measurements, each on a fresh lakehouse under ``work_dir``:

- **Offered rates.** The event generator writes one file per second in real time at a given rate while the job
  runs live (processing-time trigger). Events/s = events ingested / seconds from the first generated file until
  ingest has caught up with all of them: when the job keeps up, the offered rate less the share of that last
  catch-up (30 s offered and a 1.5 s catch-up read as 95 % of it), so the ladder goes past the 20,000/s target;
  when a backlog builds, the rate it drained at. The rates above the highest one kept up with show where it stops
  keeping up. Micro-batch latency = ``durationMs.triggerExecution`` of the one query's batches that had
  data: the time to land a batch in bronze, quarantine, the 30 s windows, the daily totals, the goal alerts and
  silver (one foreachBatch). The p95 of each step within a batch is reported too (``step_ms_p95``).
- **Backlog.** Events written up front, then one available-now run: the most the job can drain per second.

A warm-up run (three files of 20,000 events, available-now: batches the size the offered rates make, so the JIT
has compiled what they run) on a throwaway lakehouse comes first. Each file holds one second of event time, so a
run shorter than the watermark plus a window (90 s) finalises no window, but every batch writes its windows (open
ones included) and daily totals, so the latency includes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from fitlake.config import Settings
from fitlake.streaming.job import StreamOptions, run_stream

RATES = (1_000, 5_000, 10_000, 20_000, 25_000, 30_000)
QUICK_RATES = (1_000, 10_000)
WARMUP_EVENTS_PER_FILE = 20_000  # three files, one available-now run


def _seconds(ms: float | None) -> float | None:
    return round(ms / 1000, 3) if ms is not None else None


def measure_rate(spark, root: Path, rate: int, seconds: int, trigger_seconds: float, drain_timeout: float) -> dict:
    """Offer ``rate`` events/s for ``seconds`` and measure how the live job keeps up."""
    from fitlake.generate.events import generate_events

    settings = Settings(root=Path(root))
    generated: dict = {}
    times: dict[str, float] = {}
    done = threading.Event()

    def generate() -> None:
        times["start"] = time.monotonic()
        try:
            generated.update(generate_events(settings.landing_dir, rate=rate, duration=seconds, realtime=True,
                                             late_fraction=0.05, late_seconds=30, duplicate_fraction=0.01))
        finally:
            times["generated"] = time.monotonic()
            done.set()

    generator = threading.Thread(target=generate, name=f"events-{rate}", daemon=True)

    def caught_up(ingested: int) -> bool:
        if done.is_set() and ingested >= generated.get("events", 0):
            times.setdefault("caught_up", time.monotonic())
            return True
        return False

    opts = StreamOptions(trigger_seconds=trigger_seconds, until_seconds=seconds + drain_timeout)
    summary = run_stream(spark, settings, opts, poll_seconds=0.2, until=caught_up, on_started=generator.start)
    generator.join()
    end = times.get("caught_up", time.monotonic())
    ingested = summary["events_in"]
    ingest = summary["queries"]["ingest"]
    return {
        "input_rate": rate,
        "seconds_offered": seconds,
        "events": generated.get("events", 0),
        "events_ingested": ingested,
        # Kept up: everything offered was ingested within two triggers of the last file (no growing backlog).
        "kept_up": "caught_up" in times and end - times["generated"] <= 2 * trigger_seconds,
        "catch_up_after_last_file_s": round(end - times["generated"], 2) if "caught_up" in times else None,
        "events_per_s": round(ingested / (end - times["start"]), 1) if end > times.get("start", end) else None,
        "batches": ingest["batches_with_data"],
        "latency_p50_s": _seconds(ingest["batch_ms_p50"]),
        "latency_p95_s": _seconds(ingest["batch_ms_p95"]),
        "latency_max_s": _seconds(ingest["batch_ms_max"]),
        "step_ms_p95": summary["step_ms_p95"],
        "rows_dropped_by_watermark": summary["rows_dropped_by_watermark"],
        "rows_added": summary["rows_added"],
    }


def measure_backlog(spark, root: Path, events_per_file: int, files: int) -> dict:
    """Drain a backlog of ``events_per_file * files`` events in one available-now run."""
    from fitlake.generate.events import generate_events

    settings = Settings(root=Path(root))
    generated = generate_events(settings.landing_dir, rate=events_per_file, duration=files, late_fraction=0.05,
                                late_seconds=30, duplicate_fraction=0.01)
    summary = run_stream(spark, settings, StreamOptions(available_now=True), poll_seconds=0.2)
    ingest = summary["queries"]["ingest"]
    return {
        "events": generated["events"],
        "files": generated["files"],
        "seconds": summary["elapsed_s"],
        "events_per_s": summary["events_per_s"],
        "ingest_batches": ingest["batches_with_data"],
        "ingest_batch_s_max": _seconds(ingest["batch_ms_max"]),
        "rows_added": summary["rows_added"],
    }


def measure_throughput(work_dir: str | os.PathLike, quick: bool = False, rates: tuple[int, ...] | None = None,
                       seconds: int | None = None, trigger_seconds: float = 2.0, spark=None,
                       backlog_files: int | None = None) -> dict:
    """B4: the offered-rate runs and the backlog run; the Spark session is made here unless one is given."""
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    rates = tuple(rates or (QUICK_RATES if quick else RATES))
    seconds = seconds or (15 if quick else 30)
    own_session = spark is None
    if own_session:
        from fitlake.spark import get_spark

        spark = get_spark(Settings(root=work), app_name="fitlake-bench-streaming")
    started = time.monotonic()
    try:
        # Warm-up on a throwaway lakehouse: JIT, class loading and Delta's first snapshot are not what we measure.
        measure_backlog(spark, work / "warmup", WARMUP_EVENTS_PER_FILE, 3)
        results = [measure_rate(spark, work / f"rate_{r}", r, seconds, trigger_seconds, drain_timeout=120.0)
                   for r in rates]
        backlog = measure_backlog(spark, work / "backlog", 20_000, backlog_files or (5 if quick else 20))
    finally:
        if own_session:
            spark.stop()
    return {
        "method": __doc__.split("\n\n", 1)[1].strip(),
        "trigger_s": trigger_seconds,
        "seconds_per_rate": seconds,
        "load_avg_at_start": list(os.getloadavg()),
        "rates": results,
        "backlog": backlog,
        "total_s": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fitlake.streaming.bench", description=measure_throughput.__doc__)
    parser.add_argument("--work", required=True, help="scratch folder (fresh lakehouses are made under it)")
    parser.add_argument("--rates", default=None, help="comma-separated offered rates, events/s")
    parser.add_argument("--seconds", type=int, default=None, help="seconds of events per rate")
    parser.add_argument("--trigger", type=float, default=2.0, help="processing-time trigger, seconds")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backlog-files", type=int, default=None, help="files of 20,000 events for the backlog run")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    rates = tuple(int(r) for r in args.rates.split(",")) if args.rates else None
    result = measure_throughput(args.work, quick=args.quick, rates=rates, seconds=args.seconds,
                                trigger_seconds=args.trigger, backlog_files=args.backlog_files)
    text = json.dumps(result, indent=1, default=str)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
