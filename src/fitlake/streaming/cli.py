"""``fitlake stream``: live events (files or Kafka) -> bronze -> silver -> 30 s windows + goal alerts."""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading

from fitlake.options import add_common_arguments, settings_from_args
from fitlake.streaming.schema import DEFAULT_TOPIC

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "m": 60.0, "min": 60.0,
          "minute": 60.0, "minutes": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``5s``, ``500ms``, ``2m``, ``5 seconds`` or a bare number of seconds -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if not m or m.group(2) not in ("", *_UNITS):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 5s, 500ms or 2m)")
    return float(m.group(1)) * _UNITS.get(m.group(2), 1.0)


def parse_until(words: list[str]) -> tuple[str, float]:
    """``1000`` / ``1000 events`` -> ("events", 1000); ``30s`` / ``30 seconds`` -> ("seconds", 30)."""
    text = " ".join(words).strip().lower()
    m = re.fullmatch(r"(\d+)\s*events?", text) or re.fullmatch(r"(\d+)", text)
    if m:
        return "events", int(m.group(1))
    return "seconds", parse_duration(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--source", choices=("files", "kafka"), default="files",
                        help="files: <landing>/events/*.json; kafka: the topic on --bootstrap (default: files)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--trigger", type=parse_duration, default=5.0, metavar="DURATION",
                      help="micro-batch interval of the live mode, e.g. 5s (default 5s)")
    mode.add_argument("--available-now", action="store_true",
                      help="process everything that is there, then stop (restartable, used by tests and jobs)")
    parser.add_argument("--until", nargs="+", default=None, metavar="N",
                        help="live mode: stop after N events (`--until 5000 events`) or a time (`--until 30s`)")
    parser.add_argument("--bootstrap", default=None, metavar="HOST:PORT", help="Kafka bootstrap servers")
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help=f"Kafka topic (default {DEFAULT_TOPIC})")
    parser.add_argument("--max-files-per-trigger", type=int, default=None, help="files: cap per micro-batch")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=None, help="kafka: cap per micro-batch")
    parser.add_argument("--alerts-topic", default=None, metavar="TOPIC",
                        help="also publish goal alerts to this Kafka topic, exactly once per alert (keyed user:date)")
    parser.add_argument("--alerts-bootstrap", default=None, metavar="HOST:PORT",
                        help="Kafka brokers for --alerts-topic (default: --bootstrap)")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")


def format_summary(s: dict) -> str:
    added = ", ".join(f"{k} +{v}" for k, v in s["rows_added"].items())
    rules = ", ".join(f"{k}: {v}" for k, v in sorted(s["quarantined_by_rule"].items())) or "none"
    lines = [
        f"fitlake stream ({s['source']}, {s['mode']}): {s['events_in']} events in {s['elapsed_s']:.1f} s "
        f"({s['events_per_s']} events/s), stopped: {s['stopped_by']}",
        f"  rows added: {added}",
        f"  quarantined: {rules}",
        f"  late events left out of the 30 s windows (1-minute watermark): {s['rows_dropped_by_watermark']}"
        + (f", watermark {s['watermark']}" if s.get("watermark") else ""),
        f"  goal alerts: +{s['rows_added'].get('gold.goal_alerts', 0)} in gold.goal_alerts; published "
        f"{s['alerts_published']['published']} -> {s['alerts_published']['to']}",
    ]
    if s.get("landing_skipped"):
        lines.append(f"landing entries not read ({len(s['landing_skipped'])}; the other files were read; fix these, "
                     "rerun):")
        lines += [f"  {e['path']}: {e['detail']}" for e in s["landing_skipped"]]
    for name, q in s["queries"].items():
        if q["batches"]:
            line = f"  {name}: {q['batches']} batches ({q['batches_with_data']} with data)"
            if q["batch_ms_p50"] is not None:
                line += f", latency p50 {q['batch_ms_p50']:.0f} ms, p95 {q['batch_ms_p95']:.0f} ms"
            lines.append(line)
    if s.get("step_ms_p95"):
        lines.append("  per batch p95 ms: " + ", ".join(f"{k} {v:.0f}" for k, v in s["step_ms_p95"].items()))
    if s.get("spark_jobs_per_batch"):
        jobs = list(s["spark_jobs_per_batch"].values())
        lines.append(f"  Spark jobs per batch: {min(jobs)}-{max(jobs)}")
    return "\n".join(lines)


def main(args) -> int:
    from fitlake.spark import get_spark
    from fitlake.streaming.job import StreamError, StreamOptions, run_stream

    until_kind, until_value = parse_until(args.until) if args.until else (None, None)
    if args.available_now and until_kind:
        print("fitlake stream: --until applies to the live mode; --available-now stops by itself.", file=sys.stderr)
        return 2
    settings = settings_from_args(args)  # --step-goal (a common option) is the alerts' daily goal
    try:
        opts = StreamOptions(
            source=args.source,
            trigger_seconds=args.trigger,
            available_now=args.available_now,
            until_events=int(until_value) if until_kind == "events" else None,
            until_seconds=until_value if until_kind == "seconds" else None,
            bootstrap=args.bootstrap,
            topic=args.topic,
            max_files_per_trigger=args.max_files_per_trigger,
            max_offsets_per_trigger=args.max_offsets_per_trigger,
            alerts_topic=args.alerts_topic,
            alerts_bootstrap=args.alerts_bootstrap,
        )
    except StreamError as e:
        print(f"fitlake stream: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum, _frame) -> None:
        if stop.is_set():  # second signal: give up waiting
            raise KeyboardInterrupt
        print(f"fitlake stream: {signal.Signals(signum).name} received; finishing the current micro-batch "
              "and stopping (rerun to continue)", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    jar_groups = ("delta", "kafka") if args.source == "kafka" else ("delta",)  # alerts out: confluent-kafka
    spark = get_spark(settings, app_name="fitlake-stream", jar_groups=jar_groups)
    try:
        summary = run_stream(spark, settings, opts, stop=stop)
    except StreamError as e:
        print(f"fitlake stream: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, default=str) if args.json else format_summary(summary), flush=True)
    return 0
