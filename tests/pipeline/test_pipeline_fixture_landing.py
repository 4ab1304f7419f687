"""End to end on fixtures/landing: three days, a no-op rerun, then the fourth day; then every manifest defect is
checked where it should have landed, reconciliation is checked per table, and the analyst SQL runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F


from fitlake import delta_io
from fitlake.config import TABLES, Settings
from fitlake.gold.job import SQL_DIR, run_sql_file
from fitlake.pipeline import run_lock, PipelineError, summary_lines
from fitlake.spark import register_tables

from baselines import LAST_DAY, copy_incremental
from pipeline_support import FIXTURES, count_rows

pytestmark = pytest.mark.e2e  # a whole pipeline run (or model training) per module: make test, not make test-fast

LANDING = FIXTURES / "landing"


@pytest.fixture(scope="module")
def e2e(spark, request, tmp_path_factory):
    """The session's incremental baseline (tests/baselines.py: days 1-3, a rerun with nothing new, day 4; shared
    with tests/ops/test_maintain_forget.py, so neither pays for these three runs twice), on a private copy."""
    if not (LANDING / "_manifest.json").is_file():
        pytest.skip("fixtures/landing is not there")
    built = copy_incremental(request, tmp_path_factory.mktemp("e2e"))
    settings = Settings(root=built["root"], landing=built["landing"])
    for layer in ("gold",):  # the session catalog may hold these names for another test's root
        for name in TABLES[layer]:
            spark.sql(f"DROP TABLE IF EXISTS {layer}.{name}")
    register_tables(spark, settings)
    manifest = json.loads((LANDING / "_manifest.json").read_text())
    return dict(settings=settings, runs=built["runs"], v1=built["v1"], v2=built["v2"], manifest=manifest)


def _read(spark, settings, layer, name):
    return delta_io.read(spark, settings.table(layer, name))


def test_second_run_commits_nothing(e2e):
    second = e2e["runs"][1]
    assert e2e["v1"] == e2e["v2"]
    assert all(c.batches == 0 for c in second.silver) and second.gold == []


def test_counts_match_the_manifest(e2e):
    settings = e2e["settings"]
    for table, expected in e2e["manifest"]["expected"].items():
        assert delta_io.exists(None, settings.table("silver", table)), table
        silver = count_rows(settings, "silver", table)
        quarantined = count_rows(settings, "quarantine", table)
        assert (silver, quarantined) == (expected["silver_rows"], expected["quarantine_rows"]), table


def _rows_of_file_not_lost(spark, settings, file: str, quarantined: dict) -> int:
    """Rows of a daily_activity file that are either quarantined for another defect or have their key in silver."""
    bronze = _read(spark, settings, "bronze", "daily_activity").where(F.col("_source_file").endswith(file)).select(
        "_line", F.col("Id").cast("bigint").alias("user_id"),
        F.to_date(F.try_to_timestamp("ActivityDate", F.lit("M/d/yyyy"))).alias("activity_date"))
    silver = _read(spark, settings, "silver", "daily_activity").select("user_id", "activity_date")
    in_silver = bronze.join(silver, ["user_id", "activity_date"], "left_semi").count()
    in_quarantine = sum(1 for (f, _line) in quarantined if f == file)
    return in_silver + in_quarantine


def test_every_injected_defect_ends_where_the_manifest_says(spark, e2e):
    settings = e2e["settings"]
    keys = {"activity": ("date", "user_id"), "daily_activity": ("activity_date", "user_id"),
            "sleep_day": ("sleep_date", "user_id")}
    quarantined = {t: {(Path(r._source_file).as_posix().split("/landing/")[-1], r._line): r._rule
                       for r in _read(spark, settings, "quarantine", t).collect()}
                   for t in ("activity", "daily_activity")}
    seen = set()
    for d in e2e["manifest"]["defects"]:
        src, expected = d["source"], d["expected"]
        seen.add(expected)
        if expected == "quarantine":
            assert (d["file"], d["line"]) in quarantined[src], d
            continue
        if d.get("key") is None:  # a whole-file extra column: no row of the file is quarantined or lost for it
            assert _rows_of_file_not_lost(spark, settings, d["file"], quarantined[src]) == d["rows"], d
            continue
        date_col, user_col = keys[src]
        rows = _read(spark, settings, "silver", src).where(
            (F.col(user_col) == d["key"]["user_id"]) & (F.col(date_col) == d["key"]["date"])).collect()
        assert len(rows) == 1, d  # deduplicated / corrected / flagged / rescued: exactly one silver row
        row = rows[0]
        if expected == "corrected":
            names = {"TotalSteps": "total_steps", "Calories": "calories"}
            for field, value in d["corrected"].items():
                assert float(row[names.get(field, field)]) == float(value), d
        if expected == "flagged":
            assert row["is_non_wear"] is True, d
    assert seen >= {"quarantine", "deduplicated", "corrected", "flagged", "rescued"}


def test_quarantine_keeps_the_raw_row_and_the_rule(spark, e2e):
    q = _read(spark, e2e["settings"], "quarantine", "activity")
    rules = {r._rule for r in q.collect()}
    assert {"not_corrupt_record", "user_id_not_null", "date_not_in_future"} <= rules
    assert {"user_id", "steps", "_rescued_data", "_corrupt_record", "_line", "_rule", "_quarantined_at"} <= set(q.columns)


def test_the_added_day_is_all_that_the_third_run_reads(e2e):
    settings, third = e2e["settings"], e2e["runs"][2]
    for c in third.silver:
        assert delta_io.exists(None, settings.table("bronze", c.table)), c.table
        new_rows = count_rows(settings, "bronze", c.table, f"strpos(_source_file, '{LAST_DAY}') > 0")
        assert c.rows_in == new_rows, c.table
    fact = {g.table: g for g in third.gold}["fact_daily_activity"]
    # the new day's user-days, plus at most the earlier day whose correction was delivered with it
    new_day = count_rows(settings, "gold", "fact_daily_activity", f"date = DATE '{LAST_DAY}'")
    assert fact.inserted == new_day > 0 and fact.updated <= 1


def test_every_silver_table_reconciles_with_bronze(e2e):
    settings, runs = e2e["settings"], e2e["runs"]
    for name in TABLES["silver"]:
        if not delta_io.exists(None, settings.table("bronze", name)) or name == "events":
            continue
        counts = [c for r in runs for c in r.silver if c.table == name]
        assert all(c.reconciles for c in counts), name
        bronze = count_rows(settings, "bronze", name)
        silver = count_rows(settings, "silver", name)
        quarantined = count_rows(settings, "quarantine", name)
        removed = sum(c.duplicates + c.updated + c.unchanged for c in counts)
        assert bronze == silver + quarantined + removed, name
        assert sum(c.rows_in for c in counts) == bronze, name


def test_gold_is_consistent_with_silver(spark, e2e):
    settings = e2e["settings"]
    fact = _read(spark, settings, "gold", "fact_daily_activity")
    silver_keys = (_read(spark, settings, "silver", "daily_activity").select("user_id", F.col("activity_date").alias("date"))
                   .union(_read(spark, settings, "silver", "activity").select("user_id", "date")).distinct())
    assert fact.select("user_id", "date").exceptAll(silver_keys).count() == 0
    assert fact.count() == silver_keys.count()
    wellness = _read(spark, settings, "gold", "kpi_wellness_daily")
    worn = fact.where(~F.col("is_non_wear")).count()
    assert wellness.count() == worn
    assert wellness.where((F.col("wellness_score") < 0) | (F.col("wellness_score") > 100)).count() == 0
    assert _read(spark, settings, "gold", "kpi_engagement_daily").count() == worn
    assert _read(spark, settings, "gold", "dim_user").count() == e2e["manifest"]["users"]
    dates = {r.date.isoformat() for r in _read(spark, settings, "gold", "dim_date").collect()}
    assert dates == {"2023-04-01", "2023-04-02", "2023-04-03", "2023-04-04"}


def test_every_table_opens_with_the_independent_reader(e2e):
    from deltalake import DeltaTable

    settings = e2e["settings"]
    opened = 0
    for layer, names in TABLES.items():
        for name in names:
            path = Path(settings.table(layer, name).path)
            if (path / "_delta_log").is_dir():
                DeltaTable(str(path)).to_pyarrow_table()
                opened += 1
    assert opened >= 30


def test_analyst_sql_runs_against_the_local_catalog(spark, e2e):
    results = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        if path.name != "ddl.sql":
            results[path.stem] = run_sql_file(spark, e2e["settings"], path).collect()
    assert set(results) >= {"weekly_wellness_trend", "segment_movement", "sleep_efficiency_by_weekday"}
    assert all(results.values())
    assert sum(r["user_days"] for r in results["weekly_wellness_trend"]) == \
        spark.table("gold.kpi_wellness_daily").count()


def test_run_log_and_summary(spark, e2e):
    log = _read(spark, e2e["settings"], "ops", "run_log")
    assert log.select("run_id").distinct().count() == 3
    text = "\n".join(summary_lines(e2e["runs"][0]))
    assert "quarantined by rule" in text and "reconciliation" in text and "OK for every table" in text


def test_cli_run_is_a_no_op_and_exits_zero(e2e, capsys):
    from fitlake.cli import main

    settings = e2e["settings"]
    code = main(["run", "--root", str(settings.root), "--landing", str(settings.landing_dir), "--stage", "gold"])
    assert code == 0
    out = capsys.readouterr().out
    assert "nothing new" in out and "Spark ready" not in out  # decided from the Delta logs, no JVM


def test_second_run_on_the_same_lakehouse_is_refused(tmp_path):
    with run_lock(tmp_path, timeout=0):
        with pytest.raises(PipelineError, match="another fitlake run holds"):
            with run_lock(tmp_path, timeout=0.3):
                pass
    with run_lock(tmp_path, timeout=0):  # released
        pass
