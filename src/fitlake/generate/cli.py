"""``fitlake generate``: write a deterministic synthetic landing folder and print what went into it."""

from __future__ import annotations

import sys

from fitlake.options import add_common_arguments, settings_from_args


def add_arguments(parser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--out", default=None, help="landing folder to write (default: the settings' landing folder)")
    parser.add_argument("--users", type=int, default=1959, help="number of users (default: 1959, the reference)")
    parser.add_argument("--days", type=int, default=183, help="number of days (default: 183)")
    parser.add_argument("--start", default="2023-04-01", help="first day, YYYY-MM-DD (default: 2023-04-01)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed + arguments = identical bytes")
    parser.add_argument("--defect-rate", type=float, default=0.01, help="share of records with a defect (0.01)")
    parser.add_argument("--scale", type=float, default=None, help="multiply --users, e.g. 10 for benchmarks")
    parser.add_argument("--workers", type=int, default=None, help="processes writing days (default: up to 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def summary_lines(manifest: dict) -> list[str]:
    totals = manifest["totals"]
    size = sum(s["bytes"] for s in totals.values())
    lines = [f"{manifest['users']:,} users x {manifest['days']} days "
             f"({manifest['dates']['first']}..{manifest['dates']['last']}), seed {manifest['arguments']['seed']}"]
    lines.append(f"{'source':<20}{'clean records':>15}{'lines written':>15}{'files':>8}{'MB':>9}")
    for source, s in totals.items():
        lines.append(f"{source:<20}{s['records_clean']:>15,}{s['lines']:>15,}{s['files']:>8,}{s['bytes'] / 1e6:>9.1f}")
    lines.append("defects: " + (", ".join(
        f"{kind} {sum(by.values()):,}" for kind, by in manifest["defect_counts"].items()) or "none"))
    elapsed = manifest.get("elapsed_seconds")
    lines.append(f"total {size / 1e6:,.1f} MB" + (f" in {elapsed:.1f} s" if elapsed is not None else ""))
    return lines


def main(args) -> int:
    from fitlake.generate import generate_landing

    out = args.out or settings_from_args(args).landing_dir
    try:
        manifest = generate_landing(out, users=args.users, days=args.days, start=args.start, seed=args.seed,
                                    defect_rate=args.defect_rate, scale=args.scale, progress=not args.quiet,
                                    workers=args.workers)
    except ValueError as e:
        print(f"fitlake generate: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    print("\n".join(summary_lines(manifest)))
    return 0
