"""B6's reference rebuild (benchmarks/reference_etl.py) still runs against fitlake's own transforms: it calls the gold
builders directly, so a builder's new argument breaks it (it did once, and B6 failed in a bench run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fitlake.config import Settings

# a whole rebuild of silver and gold from fixtures/landing (20 s): `make test`, not `make test-fast`
pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]


def test_the_reference_rebuild_writes_every_gold_table_of_the_fixture_landing(spark, tmp_path):
    from benchmarks.reference_etl import rebuild

    root = tmp_path / "reference"
    out = rebuild(spark, root, REPO / "fixtures" / "landing")
    assert set(out["seconds"]) == {"silver", "gold"}
    settings = Settings(root=root)
    counts = {name: spark.read.format("delta").load(settings.table("gold", name).path).count()
              for name in ("fact_daily_activity", "data_completeness", "kpi_wellness_daily", "kpi_sleep_efficiency")}
    assert all(counts.values()), counts
    assert counts["data_completeness"] >= counts["fact_daily_activity"]  # one row per user-day of any input
