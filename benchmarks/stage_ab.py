"""A/B of one `fitlake run` stage between source trees, each on its own copy of one prepared lakehouse: wall time,
CPU seconds of the whole process tree (Python + JVM) and peak RSS. One JSON line per run on stdout.

    # a lakehouse whose bronze is loaded (e.g. the B1 1x one: fitlake run --stage ingest), and a checkout of the
    # code before the change (git worktree add --detach /tmp/before <rev>)
    python -m benchmarks.stage_ab --base LAKE --landing LANDING --stage silver before=/tmp/before after=.

An arm is ``name=`` followed by a checkout's folder: its ``src`` goes first on PYTHONPATH. Copies go to
``--work`` (default /tmp/fitlake-stage-ab; removed at the end unless ``--keep``). Wall times only compare on a
quiet machine; CPU seconds hold up better on a busy one (the load average is recorded beside each run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from benchmarks.harness import run_measured


def run_arm(name: str, checkout: Path, base: Path, landing: Path, stage: str, work: Path) -> dict:
    root = work / f"lake-{name}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(base, root)
    before = os.getloadavg()
    r = run_measured([sys.executable, "-m", "fitlake.cli", "run", "--root", str(root), "--landing", str(landing),
                      "--stage", stage, "--date-order", "month_first"],
                     env={"PYTHONPATH": str(checkout.resolve() / "src"), "PYTHONUNBUFFERED": "1"})
    r.check()
    return {"arm": name, "checkout": str(checkout), "stage": stage, "wall_s": round(r.wall_s, 1),
            "cpu_s": round(r.cpu_s, 1), "peak_rss_mb": round(r.peak_rss_mb), "load_avg_before": before,
            "load_avg_after": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the prepared lakehouse (copied for each run)")
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--stage", choices=("ingest", "silver", "gold"), default="silver")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fitlake-stage-ab"))
    parser.add_argument("--keep", action="store_true",
                        help="keep each arm's lakehouse (--work/lake-<name>), e.g. to compare the tables between arms")
    parser.add_argument("arms", nargs="+", help="name=checkout folder")
    args = parser.parse_args(argv)
    for arm in args.arms:
        name, _, folder = arm.partition("=")
        print(json.dumps(run_arm(name, Path(folder), args.base, args.landing, args.stage, args.work)), flush=True)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
