"""Time bronze ingestion alone: `ingest_all` on a landing, first run then a no-op rerun, wall + CPU seconds.

    python -m benchmarks.bronze_ingest --landing /tmp/x/landing [--out results.json] [--label before]

CPU is the process tree's (Python + the JVM child), read from /proc before and after each run, so a shared,
busy machine shows in the wall time but much less in the CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks.harness import tree_cpu_seconds, tree_pids


def _tree_cpu_seconds(pid: int | None = None) -> float:
    """user+system seconds of ``pid`` (default: this process) and every live descendant (Linux /proc)."""
    return sum(tree_cpu_seconds(tree_pids(pid or os.getpid())).values())


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--landing", required=True)
    ap.add_argument("--root", default=None, help="lakehouse root (default: a fresh temp folder)")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from fitlake.bronze import ingest_all
    from fitlake.config import Settings
    from fitlake.spark import get_spark

    root = Path(args.root or tempfile.mkdtemp(prefix="bronze-bench-")) / "lakehouse"
    settings = Settings(root=root, landing=Path(args.landing))
    t0, c0 = time.monotonic(), _tree_cpu_seconds()
    spark = get_spark(settings, app_name="bronze-bench")
    spark.range(1).count()
    t1, c1 = time.monotonic(), _tree_cpu_seconds()
    first = ingest_all(spark, settings)
    t2, c2 = time.monotonic(), _tree_cpu_seconds()
    again = ingest_all(spark, settings)
    t3, c3 = time.monotonic(), _tree_cpu_seconds()
    result = {
        "label": args.label,
        "landing": args.landing,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "jvm_start_s": round(t1 - t0, 2),
        "first_ingest_wall_s": round(t2 - t1, 2),
        "first_ingest_cpu_s": round(c2 - c1, 2),
        "noop_rerun_wall_s": round(t3 - t2, 2),
        "noop_rerun_cpu_s": round(c3 - c2, 2),
        "rows": sum(int(r.get("rows") or 0) for r in first),
        "files": sum(int(r.get("files") or 0) for r in first),
        "per_source_s": {r["source"]: r.get("seconds") for r in first},
        "noop_rows": sum(int(r.get("rows") or 0) for r in again),
    }
    spark.stop()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
