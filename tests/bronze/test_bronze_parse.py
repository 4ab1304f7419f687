"""The parsing transforms on tiny in-memory files: lines, CSV header mapping, JSON objects, rescue, corrupt rows."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from fitlake.bronze.parse import (
    bronze_columns,
    explode_lines,
    parse_landing_files,
    split_delimited,
    with_csv_header,
    with_file_lines,
)

MODIFIED = dt.datetime(2023, 4, 1, 8, 0, 0)
FILES = "value STRING, _source_file STRING, _source_file_modified TIMESTAMP"


def files(spark, *texts):
    """One row per file, like the wholetext file source: (text, file:/f<N>.csv, fixed mtime)."""
    return spark.createDataFrame([(t, f"file:/f{i}", MODIFIED) for i, t in enumerate(texts)], FILES)


def expected(spark, columns, rows):
    """Bronze-shaped rows: known values..., rescued, corrupt, file index, line."""
    schema = ", ".join(f"`{c}` STRING" for c in columns)
    full = [(*r[:-2], f"file:/f{r[-2]}", MODIFIED, r[-1]) for r in rows]
    return spark.createDataFrame(
        full,
        f"{schema}, _rescued_data STRING, _corrupt_record STRING, _source_file STRING, "
        "_source_file_modified TIMESTAMP, _line INT",
    )


def test_file_lines_strip_bom_and_split_any_line_break(spark):
    df = files(spark, "\ufeffa,b\r\n1,2\r\n", "x\ny\rz", "", None).transform(with_file_lines())
    out = {r["_source_file"]: r["_lines"] for r in df.collect()}
    assert out == {
        "file:/f0": ["a,b", "1,2", ""],
        "file:/f1": ["x", "y", "z"],
        "file:/f2": [""],
        "file:/f3": None,
    }


def test_explode_lines_numbers_lines_and_skips_blank_ones(spark):
    df = files(spark, "h\r\n\r\n  \r\nv\r\n", None).transform(with_file_lines()).transform(explode_lines)
    assert [(r["_source_file"], r["_line"], r["_text"]) for r in df.orderBy("_line").collect()] == [
        ("file:/f0", 1, "h"),
        ("file:/f0", 4, "v"),
    ]


def test_split_delimited_handles_simple_quotes_zero_and_empty(spark):
    df = spark.createDataFrame(
        [('1,"a, b","say ""hi""",0',), ("1,,0",), ("",), (None,), ("a;b",)], "t STRING"
    )
    got = [r[0] for r in df.select(F.expr(split_delimited("t"))).collect()]
    assert got == [["1", "a, b", 'say "hi"', "0"], ["1", "", "0"], [""], None, ["a;b"]]
    got = [r[0] for r in df.select(F.expr(split_delimited("t", ";"))).collect()]
    assert got[-1] == ["a", "b"]


def test_csv_header_must_name_a_known_column_once(spark):
    df = files(spark, "Id,Steps\r\n1,2", "\r\nId,Steps", "Id;Steps\r\n1;2", "Id,Id\r\n1,2", "", None)
    out = df.transform(with_file_lines()).transform(with_csv_header(["Id", "Steps"]))
    rows = {r["_source_file"]: (r["_header"], r["_header_line"], r["_header_ok"]) for r in out.collect()}
    assert rows == {
        "file:/f0": (["Id", "Steps"], 1, True),
        "file:/f1": (["Id", "Steps"], 2, True),  # a blank first line does not hide the header
        "file:/f2": (["Id;Steps"], 1, False),  # wrong delimiter
        "file:/f3": (["Id", "Id"], 1, False),  # ambiguous
        "file:/f4": (None, None, False),  # empty file
        "file:/f5": (None, None, False),
    }


CSV_COLS = ["Id", "ActivityDay", "StepTotal"]


def test_csv_maps_by_name_rescues_unknown_columns_and_keeps_bad_lines(spark):
    text = {
        # reordered + extra column, a zero and an empty value
        "reordered": "\ufeffStepTotal,Id,DeviceModel,ActivityDay\r\n0,1503960366,Charge 2,4/12/2016\r\n,2,,4/13/2016\r\n",
        "missing": "Id,ActivityDay\r\n3,4/14/2016\r\n",  # StepTotal missing: null, not an error
        "truncated": "Id,ActivityDay,StepTotal\r\n4,4/15/2016,10\r\n5,4/16/20",
        "bad_bytes": "Id,ActivityDay,StepTotal\r\n6,4/17/2016,1\ufffd2\r\n",
        "wrong_delimiter": "Id;ActivityDay;StepTotal\r\n7;4/18/2016;5\r\n",
        "header_only": "Id,ActivityDay,StepTotal\r\n",
        "empty": "",
    }
    df = files(spark, *text.values()).transform(parse_landing_files("csv", CSV_COLS))
    assert df.columns == bronze_columns(CSV_COLS)
    df = df.drop("_date_format")  # tested on its own below
    want = expected(
        spark,
        CSV_COLS,
        [
            ("1503960366", "4/12/2016", "0", '{"DeviceModel":"Charge 2"}', None, 0, 2),
            ("2", "4/13/2016", None, '{"DeviceModel":null}', None, 0, 3),
            ("3", "4/14/2016", None, None, None, 1, 2),
            ("4", "4/15/2016", "10", None, None, 2, 2),
            (None, None, None, None, "5,4/16/20", 2, 3),
            (None, None, None, None, "6,4/17/2016,1\ufffd2", 3, 2),
            (None, None, None, None, "Id;ActivityDay;StepTotal", 4, 1),
            (None, None, None, None, "7;4/18/2016;5", 4, 2),
        ],
    )
    assert_df_equality(df, want, ignore_row_order=True, ignore_nullable=True)


JSON_COLS = ["user_id", "date", "steps"]


def test_json_lines_keep_text_of_every_key_and_whole_bad_lines(spark):
    lines = [
        '{"user_id": 1503960366, "date": "2023-04-01", "steps": 0, "vo2": 41.5, "ok": true}',
        '{"user_id": 123456789012345678901234567890, "date": null, "extra": {"a": [1, 2]}}',
        "{}",
        "[1,2,3]",
        '"just a string"',
        "42",
        '{"user_id": 1, "date": ',
        '{"user_id": 1, "user_id": 2}',
        '{"user_id": "caf\ufffd"}',
    ]
    df = files(spark, "\ufeff" + "\r\n".join(lines) + "\r\n").transform(parse_landing_files("json", JSON_COLS))
    assert df.where("_date_format IS NOT NULL").count() == 0  # JSON dates are ISO: nothing to detect
    df = df.drop("_date_format")
    want = expected(
        spark,
        JSON_COLS,
        [
            ("1503960366", "2023-04-01", "0", '{"vo2":"41.5","ok":"true"}', None, 0, 1),
            ("123456789012345678901234567890", None, None, '{"extra":"{\\"a\\":[1,2]}"}', None, 0, 2),
            (None, None, None, None, None, 0, 3),  # an object with no fields is a record (silver rejects it)
            *[(None, None, None, None, line, 0, i) for i, line in enumerate(lines[3:], start=4)],
        ],
    )
    assert_df_equality(df, want, ignore_row_order=True, ignore_nullable=True)


def test_unknown_format_and_no_columns_are_refused():
    with pytest.raises(ValueError, match="unknown landing format"):
        parse_landing_files("xml", ["a"])
    with pytest.raises(ValueError, match="at least one"):
        parse_landing_files("csv", [])


def test_each_file_gets_the_date_format_its_own_values_show(spark):
    head = "Id,ActivityHour,StepTotal\r\n"
    text = {
        "native": head + "1,4/12/2016 1:00:00 AM,5\r\n1,4/13/2016 1:00:00 PM,6\r\n",
        "day_first_24h": head + "1,12/04/2016 01:00,5\r\n1,13/04/2016 00:00,6\r\n",
        "ambiguous": head + "1,04/12/2016 00:00,5\r\n1,05/12/2016 13:00,6\r\n",  # every field <= 12
        "conflicting": head + "1,4/13/2016 1:00:00 AM,5\r\n1,13/4/2016 1:00:00 AM,6\r\n",
        "dates_only": "Id,ActivityDay,StepTotal\r\n1,4/13/2016,5\r\n",
        "two_clocks": head + "1,4/13/2016 1:00:00 AM,5\r\n1,4/13/2016 13:00,6\r\n",
        "impossible": head + "1,4/31/2016 1:00 AM,5\r\n1,4/12/2016 1:00 AM,6\r\n",  # 31 April votes for nothing
        "no_dates": head,
    }
    df = files(spark, *text.values()).transform(parse_landing_files("csv", ["Id", "ActivityHour", "StepTotal"]))
    got = {r["_source_file"]: r["_date_format"] for r in df.select("_source_file", "_date_format").collect()}
    names = {f"file:/f{i}": name for i, name in enumerate(text)}
    assert {names[f]: v for f, v in got.items()} == {
        "native": "M/d/yyyy h:mm:ss a",
        "day_first_24h": "d/M/yyyy H:mm",
        "ambiguous": "?/?/yyyy H:mm",
        "conflicting": "!/!/yyyy h:mm:ss a",
        "dates_only": "M/d/yyyy",
        "two_clocks": "M/d/yyyy h:mm:ss a|H:mm",
        "impossible": "?/?/yyyy h:mm a",
        # a header-only file has no rows at all
    }


def test_header_variants_map_to_the_expected_columns(spark):
    text = {
        "other_version": "Id,ActivityDate,StepTotal\r\n1,4/13/2016,5\r\n",  # dailyActivity's name for the day
        "case_and_spacing": "id,Activity Day,step_total\r\n2,4/13/2016,6\r\n",
        "exact_wins": "Id,ActivityDay,ActivityDate,StepTotal\r\n3,4/13/2016,x,7\r\n",
    }
    df = files(spark, *text.values()).transform(parse_landing_files("csv", CSV_COLS))
    got = sorted((r["Id"], r["ActivityDay"], r["StepTotal"], r["_rescued_data"], r["_corrupt_record"])
                 for r in df.collect())
    assert got == [
        ("1", "4/13/2016", "5", None, None),
        ("2", "4/13/2016", "6", None, None),
        ("3", "4/13/2016", "7", '{"ActivityDate":"x"}', None),  # both names: the exact one fills the column
    ]
