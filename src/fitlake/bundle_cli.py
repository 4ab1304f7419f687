"""``fitlake bundle``: the Databricks asset bundle on this machine.

``fitlake bundle run <job> [--target local]`` runs a job of databricks.yml task by task with spark-submit;
``fitlake bundle validate`` checks the bundle without a workspace. The runner lives beside databricks.yml in
``bundle/`` (not in the wheel: a deployed job never needs it), found from the current folder upward.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

from fitlake.config import ConfigError

BUNDLE_FILE = "databricks.yml"
RUNNER_PACKAGE = "fitlake_bundle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bundle-root", default=None, help="folder with databricks.yml (default: nearest one from the current folder up)"
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    run = sub.add_parser("run", help="run a job's tasks locally in dependency order (spark-submit per task)")
    run.add_argument("job", help="job key under resources.jobs, e.g. fitlake_batch")
    run.add_argument("-t", "--target", default="local", help="bundle target (default: local)")
    run.add_argument("--only", default=None, help="comma-separated task keys to run, in dependency order")
    run.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="set a bundle variable")
    run.add_argument("--dry-run", action="store_true", help="print the resolved tasks and commands, run nothing")

    validate = sub.add_parser("validate", help="check entry points, notebooks, variables and task graphs offline")
    validate.add_argument("-t", "--target", action="append", default=None, help="target(s) to check (default: all)")
    validate.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="set a bundle variable")


def find_bundle_root(start: Path | None = None) -> Path:
    """The nearest folder, from ``start`` (default: the current folder) upward, that holds a databricks.yml. The one
    search for it: the runner in ``bundle/fitlake_bundle`` uses this too."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / BUNDLE_FILE).is_file():
            return folder
    raise ConfigError(f"no {BUNDLE_FILE} in {here} or any folder above it: run this inside the fitlake checkout")


def import_runner(root: Path) -> ModuleType:
    """The runner package from ``<root>/bundle/``, else from the checkout around the current folder."""
    candidates = [root / "bundle"]
    try:
        candidates.append(find_bundle_root() / "bundle")
    except ValueError:
        pass
    folder = next((c for c in candidates if (c / RUNNER_PACKAGE / "__init__.py").is_file()), None)
    if folder is None:
        raise ConfigError(f"{root / 'bundle' / RUNNER_PACKAGE} not found: the local runner lives beside {BUNDLE_FILE}")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(RUNNER_PACKAGE)


def _validate(runner: ModuleType, root: Path, args: argparse.Namespace) -> int:
    reports = runner.validate_targets(root, args.target, cli_vars=runner.parse_var_assignments(args.var))
    # The same problem usually shows in every target: say it once, with the targets it concerns.
    for kind, stream in (("warning", sys.stdout), ("error", sys.stderr)):
        seen: dict[str, list[str]] = {}
        for target, report in reports.items():
            for message in report.errors if kind == "error" else report.warnings:
                seen.setdefault(message, []).append(target)
        for message, targets in seen.items():
            print(f"{kind} [{', '.join(targets)}]: {message}", file=stream)
    for target, report in reports.items():
        verdict = "OK" if report.ok else f"{len(report.errors)} error(s)"
        print(f"target {target}: {verdict} ({len(report.jobs)} job(s): {', '.join(report.jobs) or 'none loaded'})")
    return 0 if all(r.ok for r in reports.values()) else 1


def _run(runner: ModuleType, root: Path, args: argparse.Namespace) -> int:
    only = [t.strip() for t in args.only.split(",") if t.strip()] if args.only else None
    bundle = runner.load_bundle(root, target=args.target, cli_vars=runner.parse_var_assignments(args.var))
    result = runner.run_job(bundle, args.job, only=only, dry_run=args.dry_run)
    return result.returncode


def main(args: argparse.Namespace) -> int:
    root = Path(args.bundle_root).resolve() if args.bundle_root else find_bundle_root()
    runner = import_runner(root)
    try:
        return _validate(runner, root, args) if args.action == "validate" else _run(runner, root, args)
    except runner.BundleError as e:
        print(f"fitlake bundle: {e}", file=sys.stderr)
        return 2
