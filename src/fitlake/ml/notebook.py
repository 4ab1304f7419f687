"""Parameters for the notebooks in ``src/notebooks``: Databricks widgets when ``dbutils`` exists, else
``--name value`` arguments (how ``spark-submit`` and the local bundle runner pass widget values), else
``FITLAKE_<NAME>`` environment variables, else the defaults; and ``run_notebook``, the body every notebook shares."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from fitlake.config import Settings, load_settings
from fitlake.spark import get_spark


def notebook_params(defaults: dict[str, str], dbutils=None, argv: list[str] | None = None) -> dict[str, str]:
    if dbutils is not None:
        for name, default in defaults.items():
            dbutils.widgets.text(name, default)
        return {name: dbutils.widgets.get(name) for name in defaults}
    parser = argparse.ArgumentParser(add_help=False)
    for name in defaults:
        parser.add_argument(f"--{name}", dest=name, default=None)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return {name: getattr(known, name) or os.environ.get(f"FITLAKE_{name.upper()}") or default
            for name, default in defaults.items()}


def notebook_settings(params: dict[str, str]) -> Settings:
    """Empty widget values mean "use the default" (a widget cannot be unset)."""
    return load_settings(target=params.get("target") or None, root=params.get("root") or None,
                         landing=params.get("landing") or None)


def run_notebook(app_name: str, params: dict[str, str], dbutils, job: Callable[[Any, Settings], Any]) -> Any:
    """A notebook's work: settings from its parameters, the Spark session, ``job(spark, settings)``. The result is
    printed and, on Databricks (``dbutils`` given), returned as the notebook's exit value in JSON."""
    settings = notebook_settings(params)
    result = job(get_spark(settings, app_name=app_name), settings)
    print(result)
    if dbutils is not None:
        dbutils.notebook.exit(json.dumps(result, default=str))
    return result
