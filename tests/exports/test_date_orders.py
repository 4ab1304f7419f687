"""Silver reads each Fitbit date in its own file's order and never reads a date as another valid date."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from fitlake.bronze.parse import parse_landing_files
from fitlake.bronze.sources import SOURCES
from fitlake.silver import transforms as T
from fitlake.silver.expectations import RULES
from fitlake.silver.specs import SPECS

FILES = "value STRING, _source_file STRING, _source_file_modified TIMESTAMP"
MODIFIED = dt.datetime(2023, 4, 1)


def silver_view(spark, texts: dict[str, str], table: str, date_order: str | None):
    """{(file, line): (typed date value, failed rule)} for CSV files of ``table`` run through bronze parsing."""
    src = SOURCES[table]
    df = spark.createDataFrame([(t, name, MODIFIED) for name, t in texts.items()], FILES)
    bronze = df.transform(parse_landing_files("csv", list(src.columns))).withColumn("_ingested_at", F.current_timestamp())
    spec = SPECS[table]
    date_col = spec.columns[1].name
    checked = bronze.transform(T.with_typed_columns, spec.columns, date_order).transform(T.with_failed_rule, RULES[table])
    return {(r["_source_file"], r["_line"]): (r[date_col], r["_rule"]) for r in checked.collect()}


HEAD = "Id,ActivityHour,StepTotal\r\n"
TEXTS = {
    "native": HEAD + "1503960366,4/12/2016 1:00:00 AM,5\r\n1503960366,4/13/2016 1:00:00 PM,6\r\n",
    "day_first": HEAD + "1503960366,12/04/2016 01:00,5\r\n1503960366,13/04/2016 13:00,6\r\n",
    "ambiguous": HEAD + "1503960366,04/05/2016 00:00,5\r\n1503960366,05/04/2016 00:00,6\r\n",
    "conflicting": HEAD + "1503960366,4/13/2016 1:00:00 AM,5\r\n1503960366,13/4/2016 1:00:00 AM,6\r\n",
}
UNDECIDED = "activity_hour_date_order_undecided_set_date_order"
CONFLICT = "activity_hour_date_order_conflicting_in_file"


@pytest.mark.parametrize("setting", [None, "month_first", "day_first"])
def test_dates_follow_their_files_order_and_ambiguous_files_need_the_setting(spark, setting):
    got = silver_view(spark, TEXTS, "hourly_steps", setting)
    ts = dt.datetime
    # decided files: the setting never overrides what the file's own values show
    assert got[("native", 2)] == (ts(2016, 4, 12, 1), None)
    assert got[("native", 3)] == (ts(2016, 4, 13, 13), None)
    assert got[("day_first", 2)] == (ts(2016, 4, 12, 1), None)
    assert got[("day_first", 3)] == (ts(2016, 4, 13, 13), None)
    # a file contradicting itself is read neither way, whatever the setting
    assert got[("conflicting", 2)] == (None, CONFLICT)
    assert got[("conflicting", 3)] == (None, CONFLICT)
    ambiguous = [got[("ambiguous", 2)], got[("ambiguous", 3)]]
    if setting is None:
        assert ambiguous == [(None, UNDECIDED), (None, UNDECIDED)]  # never a guess: quarantined, the setting named
    elif setting == "month_first":
        assert ambiguous == [(ts(2016, 4, 5), None), (ts(2016, 5, 4), None)]
    else:
        assert ambiguous == [(ts(2016, 5, 4), None), (ts(2016, 4, 5), None)]


def test_no_date_is_read_as_another_valid_date(spark):
    """Every day-month pair <= 12 written day-first, in files too small to decide: without the setting nothing
    reaches silver; with month_first (the wrong one for these files) the user chose it; but a file that shows a
    day > 12 anywhere is read day-first for all its rows, whatever the setting says."""
    lines = [f"1503960366,{d:02d}/{m:02d}/2016 00:00,1" for d in range(1, 13) for m in (4, 5)]
    ambiguous = {"a": HEAD + "\r\n".join(lines) + "\r\n"}
    got = silver_view(spark, ambiguous, "hourly_steps", None)
    assert {v for v in got.values()} == {(None, UNDECIDED)}
    decided = {"b": HEAD + "\r\n".join([*lines, "1503960366,13/05/2016 00:00,1"]) + "\r\n"}
    got = silver_view(spark, decided, "hourly_steps", "month_first")
    expected = {("b", i + 2): (dt.datetime(2016, m, d), None)
                for i, (d, m) in enumerate((d, m) for d in range(1, 13) for m in (4, 5))}
    assert {k: v for k, v in got.items() if k in expected} == expected


def test_daily_dates_weight_booleans_and_scientific_ids(spark):
    texts = {
        "daily": "Id,ActivityDay,StepTotal\r\n1503960366,13/04/2016,5\r\n1.50396E+09,14/04/2016,6\r\n",
    }
    got = silver_view(spark, texts, "daily_steps", None)
    assert got[("daily", 2)] == (dt.date(2016, 4, 13), None)
    assert got[("daily", 3)][1] == "user_id_scientific_notation_digits_lost"
    weight = {
        "w": "Id,Date,WeightKg,WeightPounds,Fat,BMI,IsManualReport,LogId\r\n"
             "1503960366,13/04/2016 23:59,52.59999847,115.9631465,22,22.64999962,TRUE,1460509732000\r\n"
             "1503960366,14/04/2016 23:59,52.6,115.96,,22.65,1,1.46051E+12\r\n",
    }
    src = SOURCES["weight_log"]
    df = spark.createDataFrame([(t, n, MODIFIED) for n, t in weight.items()], FILES)
    bronze = df.transform(parse_landing_files("csv", list(src.columns))).withColumn("_ingested_at", F.current_timestamp())
    checked = bronze.transform(T.with_typed_columns, SPECS["weight_log"].columns, None).transform(
        T.with_failed_rule, RULES["weight_log"])
    rows = {r["_line"]: r for r in checked.collect()}
    assert rows[2]["_rule"] is None and rows[2]["is_manual_report"] is True
    assert rows[2]["log_time"] == dt.datetime(2016, 4, 13, 23, 59)
    assert rows[3]["_rule"] == "log_id_scientific_notation_digits_lost"
