"""Helpers for the end-to-end tests: run the pipeline in the session's Spark and snapshot table versions."""

from __future__ import annotations

from pathlib import Path

from fitlake.config import TABLES, Settings
from fitlake.silver.merge import table_version

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def versions(settings: Settings, layers=("silver", "quarantine", "gold")) -> dict[str, int | None]:
    return {f"{layer}.{name}": table_version(None, settings.table(layer, name)) for layer in layers
            for name in TABLES[layer]}


def run(spark, settings: Settings, stages=None):
    from fitlake.pipeline import run_pipeline

    lines: list[str] = []
    report = run_pipeline(spark, settings, stages, say=lines.append)
    report.lines = lines
    return report
