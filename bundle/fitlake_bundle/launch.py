"""Run a wheel's entry point as a Databricks python_wheel_task does: ``launch.py <package> <entry_point> [args]``.

The entry point is looked up in the installed package's metadata (console_scripts), falling back to
``<package>.<entry_point>()`` like Databricks; ``sys.argv`` becomes ``[entry_point, *args]``. spark-submit runs
this file, so the entry point finds the SparkContext's JVM already started with the runner's --jars/--conf.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import PackageNotFoundError, distribution


def find_entry_point(package: str, name: str):
    try:
        dist = distribution(package)
    except PackageNotFoundError:
        raise SystemExit(f"launch: package {package!r} is not installed in {sys.executable} (pip install -e .)")
    for ep in dist.entry_points:
        if ep.group == "console_scripts" and ep.name == name:
            return ep.load()
    module = importlib.import_module(package.replace("-", "_"))
    if callable(getattr(module, name, None)):
        return getattr(module, name)
    raise SystemExit(f"launch: package {package!r} has no entry point {name!r} (see [project.scripts])")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        raise SystemExit("usage: launch.py <package_name> <entry_point> [parameters...]")
    package, name, *params = argv
    function = find_entry_point(package, name)
    sys.argv = [name, *params]
    result = function()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
