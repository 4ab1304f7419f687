"""``fitlake generate-events``: live device events as small JSON files, paced by the wall clock or as fast as
possible (``--no-realtime``, for tests and benchmarks)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from fitlake.options import add_common_arguments, settings_from_args


def _rate(text: str) -> int:
    return int(text.removesuffix("/s"))


def add_arguments(parser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--out", default=None, help="landing folder; files go to <out>/events (default: settings)")
    parser.add_argument("--rate", type=_rate, default=50, help="events per second, e.g. 50 or 50/s (default 50)")
    parser.add_argument("--duration", type=int, default=60, help="seconds of event time = number of files (60)")
    parser.add_argument("--users", type=int, default=200, help="distinct users sending events (200)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--late-fraction", type=float, default=0.1, help="share of late events (0.1)")
    parser.add_argument("--late-seconds", type=float, default=90.0, help="how late at most, in seconds (90)")
    parser.add_argument("--duplicate-fraction", type=float, default=0.01, help="share of re-sent events (0.01)")
    parser.add_argument("--start", default="2023-04-01T08:00:00Z",
                        help="event time of the first file (ISO, UTC), or 'now' for a live demo (not reproducible)")
    parser.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True,
                        help="pace one file per wall-clock second (default) or write all at once")


def main(args) -> int:
    from fitlake.generate import generate_events

    out = args.out or settings_from_args(args).landing_dir
    if args.start == "now":
        args.start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    try:
        summary = generate_events(out, rate=args.rate, duration=args.duration, seed=args.seed,
                                  late_fraction=args.late_fraction, late_seconds=args.late_seconds, users=args.users,
                                  start=args.start, duplicate_fraction=args.duplicate_fraction,
                                  realtime=args.realtime)
    except ValueError as e:
        print(f"fitlake generate-events: {e}", file=sys.stderr)
        return 2
    print(f"wrote {summary['files']} files ({summary['files_skipped']} already there) to {summary['folder']}: "
          f"{summary['events']:,} events, {summary['late']:,} late ({summary['beyond_watermark']:,} beyond 60 s), "
          f"{summary['duplicates']:,} re-sent")
    return 0
