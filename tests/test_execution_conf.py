"""How much a run will read, decided before Spark starts, and what Spark is asked to do with it
(``pipeline.input_bytes``, ``spark.execution_conf``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from fitlake.config import Settings
from fitlake.delta_log import (ROW_BYTES, added_bytes, added_input_bytes, appended_input_bytes,
                                current_input_bytes)
from fitlake.pipeline import input_bytes
from fitlake.spark import INTERPRETED, execution_conf, small_input_options

REPO = Path(__file__).resolve().parents[1]
LANDING = REPO / "fixtures" / "landing"


def test_a_new_landing_is_read_whole_and_nothing_else_is_pending(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(LANDING, landing)
    settings = Settings(root=tmp_path / "lake", landing=landing)
    csv_bytes = sum(p.stat().st_size for p in landing.rglob("*") if p.is_file() and not p.name.startswith("."))
    got = input_bytes(settings)
    # every batch source's files (a file two sources read counts twice; files no source reads count 0)
    assert 0 < got <= 2 * csv_bytes
    assert input_bytes(settings, ["silver", "gold"]) == 0  # no bronze, no silver yet


def test_added_bytes_counts_the_data_files_of_later_commits(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.range(100).write.format("delta").save(path)
    first = sum(p.stat().st_size for p in Path(path).glob("*.parquet"))
    spark.range(1000).write.format("delta").mode("append").save(path)
    total = sum(p.stat().st_size for p in Path(path).glob("*.parquet"))
    assert added_bytes(path, -1) == total
    assert added_bytes(path, 0) == total - first > 0
    assert added_bytes(path, 1) == 0
    assert added_bytes(tmp_path / "absent", -1) == 0


def test_delta_inputs_are_sized_by_their_rows_not_their_compressed_files(spark, tmp_path):
    # 200 k equal rows compress to a few kB of Parquet: by bytes a small run, by rows not
    path = str(tmp_path / "t")
    spark.range(200_000).selectExpr("1 AS x").write.format("delta").save(path)
    assert added_bytes(path, -1) < 200_000 * ROW_BYTES // 100
    assert added_input_bytes(path, -1) == appended_input_bytes(path, -1) == 200_000 * ROW_BYTES
    assert current_input_bytes(path) == 200_000 * ROW_BYTES
    spark.sql(f"DELETE FROM delta.`{path}` WHERE true")  # removes the files: no rows now, nothing appended after 0
    assert current_input_bytes(path) == 0
    assert appended_input_bytes(path, 0) == 0
    assert added_input_bytes(path, 0) == 0


def test_a_loaded_silver_counts_by_rows_for_gold(spark, tmp_path):
    """Gold's pending silver of a lakehouse is its rows' size, so a big silver is never run as a small input."""
    from fitlake.gold.job import pending_bytes

    settings = Settings(root=tmp_path / "lake")
    ref = settings.table("silver", "hourly_steps")
    spark.range(50_000).selectExpr("7 AS user_id").write.format("delta").save(ref.path)
    assert pending_bytes(settings, by_rows=True) == 50_000 * ROW_BYTES > pending_bytes(settings)
    assert input_bytes(settings, ["gold"]) == 50_000 * ROW_BYTES


def test_small_inputs_are_interpreted_large_ones_compiled():
    settings = Settings(interpreted_max_bytes=1000)
    assert execution_conf(settings, 0) == INTERPRETED
    assert execution_conf(settings, 1000) == INTERPRETED
    assert execution_conf(settings, 1001) == {}
    assert execution_conf(settings, None) == {}  # unknown (a catalog target): Spark's defaults


def test_small_inputs_stop_the_jit_at_c1(monkeypatch):
    monkeypatch.delenv("FITLAKE_JIT", raising=False)
    settings = Settings(interpreted_max_bytes=1000)
    assert small_input_options(settings, 1000) == (INTERPRETED, "c1")
    assert small_input_options(settings, 1001) == ({}, "full")
    assert small_input_options(settings, None) == ({}, "full")
