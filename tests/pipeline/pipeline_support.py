"""Helpers for the end-to-end tests: run the pipeline in the session's Spark and snapshot table versions."""

from __future__ import annotations

from pathlib import Path

from fitlake.config import TABLES, Settings
from fitlake.silver.merge import table_version

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def versions(settings: Settings, layers=("silver", "quarantine", "gold")) -> dict[str, int | None]:
    return {f"{layer}.{name}": table_version(None, settings.table(layer, name)) for layer in layers
            for name in TABLES[layer]}


def count_rows(settings: Settings, layer: str, name: str, where: str = "true") -> int:
    """Rows of a local table matching the SQL condition ``where`` (0 when the table was never written), counted by
    delta-rs (``delta_io.local_query``: the independent reader, no Spark job per check)."""
    from fitlake import delta_io

    ref = settings.table(layer, name)
    if not delta_io.exists(None, ref):
        return 0
    return delta_io.local_query(ref.path, f"SELECT count(*) AS n FROM t WHERE {where}")[0]["n"]


def run(spark, settings: Settings, stages=None):
    from fitlake.pipeline import run_pipeline

    lines: list[str] = []
    report = run_pipeline(spark, settings, stages, say=lines.append)
    report.lines = lines
    return report
