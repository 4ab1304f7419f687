"""What a streaming run reports: every micro-batch's progress, latency percentiles and the rows each table gained
(read from the Delta log, not recounted)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.config import TableRef


@dataclass
class ProgressLog:
    """Every micro-batch's progress of this run, per query (deduplicated by batch id)."""

    batches: dict[str, dict[int, dict]] = field(default_factory=dict)

    def poll(self, queries: dict[str, object]) -> None:
        for name, query in queries.items():
            seen = self.batches.setdefault(name, {})
            for p in query.recentProgress:
                progress = json.loads(p.json)
                seen.setdefault(progress["batchId"], progress)

    def input_rows(self, name: str) -> int:
        return sum(p.get("numInputRows", 0) for p in self.batches.get(name, {}).values())

    def summary(self, name: str) -> dict:
        progress = sorted(self.batches.get(name, {}).values(), key=lambda p: p["batchId"])
        durations = [p["durationMs"].get("triggerExecution", 0) for p in progress]
        with_data = [p["durationMs"].get("triggerExecution", 0) for p in progress if p.get("numInputRows", 0) > 0]
        dropped = sum(op.get("numRowsDroppedByWatermark", 0) for p in progress for op in p.get("stateOperators", []))
        watermark = next((p["eventTime"]["watermark"] for p in reversed(progress)
                          if p.get("eventTime", {}).get("watermark")), None)
        return {
            "batches": len(progress),
            "batches_with_data": len(with_data),
            "input_rows": self.input_rows(name),
            "batch_ms_p50": percentile(with_data, 50),
            "batch_ms_p95": percentile(with_data, 95),
            "batch_ms_max": max(durations, default=None),
            "rows_dropped_by_watermark": dropped,
            "watermark": watermark,
        }


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every reported latency is one a batch really had)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil(n * pct / 100)
    return float(ordered[int(rank) - 1])


def table_versions(spark: SparkSession, refs: dict[str, TableRef]) -> dict[str, int]:
    return {name: delta_io.table_version(spark, ref) for name, ref in refs.items()}


def _commits_after(spark: SparkSession, ref: TableRef, version: int) -> list[dict]:
    if delta_io.rs_readable(ref):
        from deltalake import DeltaTable

        table = DeltaTable(ref.path)
        newer = table.version() - version
        return [c for c in table.history(newer) if c["version"] > version] if newer > 0 else []
    history = delta_io.delta_table(spark, ref).history().where(F.col("version") > version)
    return [r.asDict() for r in history.select("version", "operation", "operationMetrics").collect()]


def rows_added_since(spark: SparkSession, ref: TableRef, version: int) -> int:
    """Rows this run added to a table, from the Delta log's operation metrics (inserts of MERGEs, appends)."""
    total = 0
    for commit in _commits_after(spark, ref, version):
        metrics = commit.get("operationMetrics") or {}
        # Spark's metric names, or delta-rs's (the daily totals' MERGE): numTargetRowsInserted / num_target_rows_inserted
        keys = ("numTargetRowsInserted", "num_target_rows_inserted") if commit.get("operation") == "MERGE" else (
            "numOutputRows",)
        total += int(next((metrics[k] for k in keys if metrics.get(k) is not None), 0))
    return total
