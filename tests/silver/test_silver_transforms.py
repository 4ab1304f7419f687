"""Silver transforms and parsers on tiny bronze-shaped DataFrames: null, zero and edge cases."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from fitlake.silver import transforms as T
from fitlake.silver.expectations import RULES
from fitlake.silver.parsing import parse
from fitlake.silver.specs import SPECS


def test_fitbit_dates_parse_exactly_or_not_at_all(spark):
    df = spark.createDataFrame(
        [("4/12/2016",), ("04/02/2016",), ("2016-04-12",), ("13/45/2016",), ("2/30/2016",), ("4/12/16",), ("",),
         (" 4/12/2016 ",), (None,)],
        "raw STRING",
    )
    out = df.select("raw", parse("raw", "fitbit_date").alias("d"))
    got = {r["raw"]: r["d"] for r in out.collect()}
    assert got["4/12/2016"] == dt.date(2016, 4, 12)
    assert got["04/02/2016"] == dt.date(2016, 4, 2)
    assert got[" 4/12/2016 "] == dt.date(2016, 4, 12)
    for bad in ("2016-04-12", "13/45/2016", "2/30/2016", "4/12/16", "", None):
        assert got[bad] is None, bad


def test_fitbit_timestamps_and_numbers(spark):
    df = spark.createDataFrame(
        [("4/12/2016 12:00:00 AM", "13162", "8.5", "True"),
         ("4/12/2016 1:05:09 PM", "-3", "1.87999999523163", "false"),
         ("4/12/2016 13:00:00", "12,5O0", "n/a", "yes"),
         ("2016-04-12T00:00:00", "2147483648", "NaN", None),
         (None, "0", "0", "TRUE")],
        "ts STRING, i STRING, d STRING, b STRING",
    )
    out = df.select(parse("ts", "fitbit_timestamp").alias("ts"), parse("i", "int").alias("i"),
                    parse("d", "double").alias("d"), parse("b", "boolean").alias("b"))
    expected = spark.createDataFrame(
        [(dt.datetime(2016, 4, 12, 0, 0), 13162, 8.5, True),
         (dt.datetime(2016, 4, 12, 13, 5, 9), -3, 1.87999999523163, False),
         (dt.datetime(2016, 4, 12, 13, 0), None, None, None),  # a 24-hour value says so itself (no AM/PM)
         (None, None, None, None),
         (None, 0, 0.0, True)],
        "ts TIMESTAMP, i INT, d DOUBLE, b BOOLEAN",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_booleans_in_any_letter_case_or_as_digits(spark):
    cases = {"true": True, "TRUE": True, "tRuE": True, "1": True, " 1 ": True, "false": False, "FALSE": False,
             "fAlSe": False, "0": False, "yes": None, "t": None, "2": None, "10": None, "": None}
    df = spark.createDataFrame([(k,) for k in cases] + [(None,)], "b STRING")
    out = df.select(F.col("b").alias("raw"), parse("b", "boolean").alias("b"))
    got = {r["raw"]: r["b"] for r in out.collect()}
    assert got == {**cases, None: None}


def test_fitbit_timestamp_clock_is_the_values_own_in_any_letter_case(spark):
    """AM/PM in any case means a 12-hour clock (12 AM is midnight, 12 PM noon), none a 24-hour one; a 12-hour hour
    without its AM/PM, or an hour past 12 with one, is no timestamp; missing stays missing; day-first files too."""
    rows = [("M/d", "4/12/2016 12:00:00 am"), ("M/d", "4/12/2016 12:30 Pm"), ("M/d", "4/12/2016 1:05:09 pM"),
            ("M/d", "4/12/2016 0:00"), ("M/d", "4/12/2016 23:59:59"), ("M/d", "4/12/2016 13:00:00 PM"),
            ("M/d", "4/12/2016 0:00:00 AM"), ("M/d", "4/12/2016 24:00"), ("M/d", "4/12/2016 12:00:00 M"),
            ("d/M", "12/4/2016 11:00:00 PM"), ("d/M", "31/4/2016 1:00:00 AM"), ("M/d", ""), ("M/d", None)]
    df = spark.createDataFrame(rows, "order STRING, raw STRING")
    out = df.select("order", "raw", parse("raw", "fitbit_timestamp", "order").alias("ts"))
    expected = spark.createDataFrame(
        [(o, r, t) for (o, r), t in zip(rows, [
            dt.datetime(2016, 4, 12, 0, 0), dt.datetime(2016, 4, 12, 12, 30), dt.datetime(2016, 4, 12, 13, 5, 9),
            dt.datetime(2016, 4, 12, 0, 0), dt.datetime(2016, 4, 12, 23, 59, 59), None, None, None, None,
            dt.datetime(2016, 4, 12, 23, 0), None, None, None])],
        "order STRING, raw STRING, ts TIMESTAMP",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_calories_to_steps_ratio_is_null_safe(spark):
    df = spark.createDataFrame([(2000.0, 10000), (1500.0, 0), (None, 100), (1800.0, None), (0.0, 5)],
                               "calories DOUBLE, steps INT")
    expected = spark.createDataFrame(
        [(2000.0, 10000, 0.2), (1500.0, 0, None), (None, 100, None), (1800.0, None, None), (0.0, 5, 0.0)],
        "calories DOUBLE, steps INT, calories_to_steps_ratio DOUBLE",
    )
    assert_df_equality(df.transform(T.with_calories_to_steps_ratio, "calories", "steps"), expected, ignore_nullable=True)


def test_day_of_week_is_iso(spark):
    df = spark.createDataFrame([(dt.date(2016, 4, 11),), (dt.date(2016, 4, 16),), (dt.date(2016, 4, 17),), (None,)],
                               "date DATE")
    expected = spark.createDataFrame(
        [(dt.date(2016, 4, 11), 1, False), (dt.date(2016, 4, 16), 6, True), (dt.date(2016, 4, 17), 7, True),
         (None, None, None)],
        "date DATE, day_of_week INT, is_weekend BOOLEAN",
    )
    assert_df_equality(df.transform(T.with_day_of_week, "date"), expected, ignore_nullable=True)


def test_non_wear_days_are_flagged_not_dropped(spark):
    df = spark.createDataFrame(
        [(0, 0, 0, 1440), (0, 0, 0, 900), (0, 5, 0, 1000), (120, 0, 0, 1440), (None, None, None, None), (3000, 10, 20, 800)],
        "steps INT, very INT, light INT, sedentary INT",
    )
    out = df.transform(T.flag_non_wear_days, "steps", ["very", "light"], "sedentary")
    assert out.count() == 6
    assert [r["is_non_wear"] for r in out.collect()] == [True, True, False, True, False, False]


def _bronze(spark, rows, columns):
    meta = "_rescued_data STRING, _corrupt_record STRING, _source_file STRING, _line INT, _ingested_at TIMESTAMP"
    schema = ", ".join(f"`{c}` STRING" for c in columns) + ", " + meta
    return spark.createDataFrame(rows, schema)


def test_rules_quarantine_each_defect_with_its_first_failing_rule(spark):
    spec = SPECS["daily_activity"]
    cols = [c.source for c in spec.columns]
    t0 = dt.datetime(2024, 1, 1)
    good = ["1503960366", "4/12/2016", "13162", "8.5", "8.5", "0", "1.88", "0.55", "6.06", "0", "25", "13", "328", "728", "1985"]

    def row(**changes):
        values = dict(zip(cols, good))
        values.update(changes)
        return [values[c] for c in cols] + [None, None, "f.csv", 2, t0]

    rows = [
        row(),
        row(Id=None),
        row(Id=""),
        row(ActivityDate="2016-04-12"),
        row(ActivityDate="4/12/2116"),
        row(TotalSteps="abc"),
        row(TotalSteps="-5"),
        row(TotalSteps="0", VeryActiveMinutes="0", FairlyActiveMinutes="0", LightlyActiveMinutes="0",
            SedentaryMinutes="1440"),
        row(SedentaryMinutes="1400"),
        [None] * len(cols) + [None, "1503960366,4/12", "f.csv", 3, t0],
    ]
    checked = _bronze(spark, rows, cols).transform(T.with_typed_columns, spec.columns).transform(
        T.with_failed_rule, RULES["daily_activity"])
    assert [r["_rule"] for r in checked.collect()] == [
        None, "user_id_not_null", "user_id_not_null", "activity_date_parses_exactly",
        "activity_date_not_in_future", "total_steps_parses_exactly", "total_steps_in_range", None,
        "minutes_sum_within_day", "not_corrupt_record",
    ]
    quarantined = checked.where("_rule IS NOT NULL").transform(T.to_quarantine_rows)
    # the bronze row as it arrived, in bronze's column order (lineage travels beside _raw, not inside it)
    bronze = _bronze(spark, rows, cols)
    assert quarantined.columns == [*bronze.columns, "_rule", "_quarantined_at"]
    assert "_source_file" not in checked.schema["_raw"].dataType.fieldNames()
    failed = [tuple(r) for r, rule in zip(bronze.collect(), [r["_rule"] for r in checked.collect()]) if rule]
    assert sorted(map(str, (tuple(r)[: len(bronze.columns)] for r in quarantined.collect()))) == sorted(map(str, failed))


def test_with_failed_rule_names_the_first_failing_rule_and_null_fails(spark):
    df = spark.createDataFrame([(1,), (0,), (None,), (-1,)], "x INT")
    out = df.transform(T.with_failed_rule, [("x_not_null", "x IS NOT NULL"), ("x_positive", "x > 0")])
    assert [(r["x"], r["_rule"]) for r in out.collect()] == [
        (1, None), (0, "x_positive"), (None, "x_not_null"), (-1, "x_positive")]


def test_with_latest_rank_prefers_later_file_then_later_ingest_then_later_line(spark):
    t1, t2 = dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)
    df = spark.createDataFrame(
        [(1, "a", 10, "f/part-00000.json", 1, t1),
         (1, "a", 11, "f/part-00001-corrections.json", 1, t1),  # same batch, later file wins
         (2, "a", 20, "f/part-00000.json", 2, t2),  # an earlier file ingested later does not win (stale) ...
         (2, "a", 21, "g/part-00000.json", 2, t1),  # ... over a later file
         (5, "a", 50, "f/x.csv", 1, t1),
         (5, "a", 51, "f/x.csv", 1, t2),  # the same file ingested again (rewritten in place): later ingest wins
         (3, "a", 30, "f/x.csv", 2, t1),
         (3, "a", 31, "f/x.csv", 9, t1),  # same file, later line wins
         (4, None, 40, "f/x.csv", 3, t1),
         (6, "a", 61, "f/x (1).csv", 1, t1),  # a re-downloaded copy sorts after the original (extension aside)
         (6, "a", 60, "f/x.csv", 1, t1)],
        "user_id INT, k STRING, v INT, _source_file STRING, _line INT, _ingested_at TIMESTAMP",
    )
    out = (df.transform(T.with_latest_rank, ["user_id", "k"]).where("_dup_rank = 1")
           .select("user_id", "v").orderBy("user_id"))
    assert [tuple(r) for r in out.collect()] == [(1, 11), (2, 21), (3, 31), (4, 40), (5, 51), (6, 61)]


def test_delivery_conflicts_and_stale_rows_are_marked(spark):
    t1, t2 = dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)
    df = spark.createDataFrame(
        [(1, 10, "a.csv", 1, t1, None), (1, 11, "a.csv", 2, t1, None),  # conflict in a.csv
         (1, 12, "b.csv", 1, t1, None),  # b.csv alone: a valid correction
         (2, 20, "a.csv", 3, t1, None), (2, 20, "a.csv", 4, t1, None),  # exact duplicate: not a conflict
         (2, 99, "a.csv", 5, t1, "v_in_range"),  # already invalid: takes no part
         (3, 30, "b.csv", 2, t1, None), (3, 31, "a (again).csv", 6, t2, None),  # stale re-send
         (4, 40, "b.csv", 3, t1, None), (4, 41, "a.csv", 7, t1, None)],  # same run: superseded
        "user_id INT, v INT, _source_file STRING, _line INT, _ingested_at TIMESTAMP, _rule STRING",
    )
    out = (df.transform(T.with_delivery_conflicts, ["user_id"], ["v"])
           .withColumn("_valid", F.col("_rule").isNull())
           .transform(T.with_latest_rank, ["user_id"], "_valid")
           .transform(T.with_stale_redeliveries, ["user_id"], ["v"]))
    got = {(r.user_id, r.v, r._line): (r._rule, r._valid, r._dup_rank if r._valid else None) for r in out.collect()}
    assert got == {
        (1, 10, 1): ("conflicting_values_in_delivery", False, None),
        (1, 11, 2): ("conflicting_values_in_delivery", False, None),
        (1, 12, 1): (None, True, 1),
        (2, 20, 3): (None, True, 2), (2, 20, 4): (None, True, 1),
        (2, 99, 5): ("v_in_range", False, None),
        (3, 30, 2): (None, True, 1), (3, 31, 6): ("stale_redelivery", False, None),
        (4, 40, 3): (None, True, 1), (4, 41, 7): (None, True, 2),
    }


def test_doubles_must_be_finite(spark):
    raws = ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e999", "-1e999", "1e308", "2.5"]
    out = spark.createDataFrame([(r,) for r in raws], "raw STRING").select(
        "raw", parse("raw", "double").alias("d"))
    got = {r.raw: r.d for r in out.collect()}
    assert got == {**{r: None for r in raws[:7]}, "1e308": 1e308, "2.5": 2.5}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_spec_has_rules_and_a_key_range_column(name):
    spec = SPECS[name]
    assert spec.prune_column in spec.keys
    names = [r for r, _ in RULES[name]]
    assert names[0] == "not_corrupt_record" and len(names) == len(set(names))


def test_only_rows_with_a_repeated_key_need_the_windows(spark, monkeypatch):
    """The job's shortcut (``checked_from_typed``) gives every row the same rule, validity and winner as the
    windows over the whole batch; only the valid rows of a repeated key take the windows."""
    from types import SimpleNamespace

    from fitlake.silver import job

    t1, t2 = dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)
    typed = spark.createDataFrame(
        [(1, 10, "a.csv", 1, t1, None), (1, 11, "a.csv", 2, t1, None),  # conflict in a.csv
         (1, 12, "b.csv", 1, t1, None),
         (2, 20, "a.csv", 3, t1, None), (2, 20, "a.csv", 4, t1, None),  # exact duplicate
         (2, 99, "a.csv", 5, t1, "v_in_range"),
         (3, 30, "b.csv", 2, t1, None), (3, 31, "a (again).csv", 6, t2, None),  # stale re-send
         (5, 50, "a.csv", 8, t1, None),  # alone
         (6, 60, "a.csv", 9, t1, "v_in_range"), (6, 61, "b.csv", 9, t1, None),  # one valid row of a repeated key
         (None, 70, "a.csv", 10, t1, "user_id_not_null"), (None, 71, "a.csv", 11, t1, "user_id_not_null"),
         (0, 0, "a.csv", 12, t1, None)],
        "user_id INT, v INT, _source_file STRING, _line INT, _ingested_at TIMESTAMP, _rule STRING",
    )
    spec = SimpleNamespace(keys=("user_id",), value_columns=("v",))
    repeated = job.repeated_key_hashes(typed, spec.keys)
    assert len(repeated) == 3  # users 1, 2 and 3: user 6 has one valid row, null keys fail a rule

    def outcome(df):
        return {(r.user_id, r.v, r._line): (r._rule, r._valid, r._valid and r._dup_rank == 1) for r in df.collect()}

    full = outcome(typed.transform(job.with_delivery_checks, spec))
    assert outcome(job.checked_from_typed(typed, spec, repeated)) == full
    assert outcome(job.checked_from_typed(typed, spec, None)) == full
    # no key repeats (the usual new day): the same outcome and columns with no window in the plan at all
    unique = typed.where("_line IN (5, 8, 12) OR (_line = 9 AND v = 61)")
    assert job.repeated_key_hashes(unique, spec.keys) == []
    shortcut = job.checked_from_typed(unique, spec, [])
    assert outcome(shortcut) == outcome(unique.transform(job.with_delivery_checks, spec))
    assert len(outcome(shortcut)) == 4
    assert shortcut.columns == job.checked_from_typed(typed, spec, repeated).columns
    assert "Window" not in shortcut._jdf.queryExecution().analyzed().toString()
    assert full[(3, 31, 6)][0] == "stale_redelivery" and full[(1, 10, 1)][0] == "conflicting_values_in_delivery"
    assert full[(6, 61, 9)] == (None, True, True) and full[(2, 20, 4)] == (None, True, True)
    # the same one aggregation counts every row-level rule, and the valid rows with their key range
    _, totals = job.survey_keys(typed, spec.keys, "user_id")
    assert totals == {None: (10, "0", "6"), "v_in_range": (2, "2", "6"), "user_id_not_null": (2, None, None)}
    monkeypatch.setattr(job, "MAX_REPEATED_KEYS", 2)  # too many repeated keys: every row takes the windows
    assert job.repeated_key_hashes(typed, spec.keys) is None
