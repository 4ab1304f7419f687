"""Gold's DDL: the file statistics each date-clustered table keeps, and that a table created from its first rows
(a first load: ``merge.create_with`` with the DDL's clause) really keeps only those."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from fitlake.config import Settings
from fitlake.gold.job import BUILDERS, TableDDL
from fitlake.silver import merge as M

_STATS = re.compile(r"'delta\.dataSkippingStatsColumns'\s*=\s*'([^']*)'")


def _stats_columns(name: str) -> list[str] | None:
    m = _STATS.search(TableDDL.of(name).clause)
    return m.group(1).split(",") if m else None


def test_date_clustered_gold_tables_keep_statistics_on_date_and_their_keys(spark):  # spark: the DDL type parser
    checked = 0
    for b in BUILDERS:
        ddl = TableDDL.of(b.table)
        if "CLUSTER BY (date)" not in ddl.clause:
            continue
        stats = _stats_columns(b.table)
        assert stats is not None, f"gold.{b.table} collects statistics on every column"
        # the clustering column (date: every MERGE's range bound, every dashboard filter) and the keys the MERGE
        # matches on; each a declared column
        assert "date" in stats and set(b.keys) <= set(stats), (b.table, stats)
        assert set(stats) <= set(ddl.schema().fieldNames()), (b.table, stats)
        checked += 1
    assert checked >= 8


def test_a_gold_table_created_from_its_first_rows_keeps_only_its_declared_statistics(spark, tmp_path):
    ref = Settings(root=tmp_path).table("gold", "fact_sleep")
    ddl = TableDDL.of("fact_sleep")
    rows = spark.createDataFrame(
        [(7, dt.date(2023, 4, 1), 20230401, 420, 480, 1, 0.875, dt.datetime(2023, 4, 2))], ddl.schema())
    assert M.create_with(ref, rows, clause=ddl.clause)["insert"] == 1
    adds = [json.loads(line)["add"] for f in sorted(Path(ref.path, "_delta_log").glob("*.json"))
            for line in f.read_text().splitlines() if '"add"' in line]
    stats = [json.loads(a["stats"]) for a in adds]
    assert stats and all(s["numRecords"] == 1 for s in stats)
    assert all(set(s["minValues"]) == set(_stats_columns("fact_sleep")) for s in stats), stats
