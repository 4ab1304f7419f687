"""``fitlake bench``: run the benchmarks under the repo's ``benchmarks/`` folder, print a table, write JSON.

The benchmark code is not part of the wheel (it generates gigabytes and times whole jobs), so this command finds
the checkout: the nearest directory, from the working directory up (then from this file up), holding
``benchmarks/run.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fitlake.config import ConfigError


def find_repo_root(start: Path | None = None) -> Path:
    candidates = [Path(start or Path.cwd()).resolve(), Path(__file__).resolve()]
    for origin in candidates:
        for d in (origin, *origin.parents):
            if (d / "benchmarks" / "run.py").is_file():
                return d
    raise ConfigError(
        "fitlake bench needs the source checkout (a folder with benchmarks/run.py): run it from the repo."
    )


def _benchmarks():
    root = find_repo_root()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import benchmarks.run as run

    return run


def add_arguments(parser) -> None:
    parser.add_argument("--scale", type=float, default=1.0, help="scale of the base run (1 = 1,959 users x 183 days)")
    parser.add_argument("--out", default="bench.json", help="where to write the JSON (default: bench.json)")
    parser.add_argument("--only", default=None, help="comma-separated figures to run, e.g. B1,B4")
    parser.add_argument("--quick", action="store_true", help="skip the 10x runs and the long fault mode")
    parser.add_argument("--workdir", default=None, help="scratch folder for landing/lakehouses (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--profile", nargs="?", const="export", choices=("export", "generated"), default=None,
                        help="instead of the figures: where each second of `fitlake run` goes, per table (Spark jobs, "
                             "time outside them, Delta commits), on the real export (default) or on the generated "
                             "landing at --scale (from empty, +1 day, no-op)")
    parser.add_argument("--readme", default=None,
                        help="also write the results table into this page's bench markers (docs/performance.md)")


def main(args) -> int:
    run = _benchmarks()
    if args.profile:
        import benchmarks.profile_run as profile

        argv = ["--out", args.out, *(["--workdir", args.workdir] if args.workdir else [])]
        return profile.main(argv + (["--scale", str(args.scale)] if args.profile == "generated" else []))
    only = {s.strip().upper() for s in args.only.split(",")} if args.only else None
    return run.main(scale=args.scale, out=args.out, only=only, quick=args.quick, workdir=args.workdir,
                    keep=args.keep, readme=args.readme)
