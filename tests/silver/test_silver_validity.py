"""The one-rule-per-column-kind table (validity.py), applied to every silver spec: ids, finite numbers, ranges and
clock rules hold in every table that carries such a column, not just in the tables someone remembered."""

from __future__ import annotations

import datetime as dt

import pytest

from fitlake.silver import transforms as T
from fitlake.silver import validity as V
from fitlake.silver.expectations import RULES
from fitlake.silver.specs import SPECS

# a valid raw value per check kind / parse kind (the specs' columns are built from these)
VALID_BY_CHECK = {"id": "1503960366", "heart_rate": "80", "sleep_records_per_day": "1", "weight_kg": "70.5",
                  "weight_pounds": "155.4", "body_fat_percent": "22", "bmi": "24.1", "activity_type": "walking"}
VALID_BY_KIND = {"fitbit_date": "4/12/2016", "fitbit_timestamp": "4/12/2016 1:00:00 AM", "iso_date": "2016-04-12",
                 "boolean": "True", "string": "x"}
BEFORE_FLOOR = {"fitbit_date": "12/31/1999", "fitbit_timestamp": "12/31/1999 11:00:00 PM", "iso_date": "1999-12-31"}
NUMERIC = ("int", "bigint", "double")
T0 = dt.datetime(2024, 1, 1)


def _valid(col) -> str:
    return VALID_BY_CHECK.get(col.check) or VALID_BY_KIND.get(col.kind) or "0"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_numeric_column_has_a_known_check(name):
    """A new numeric column without a range / sign check fails here, not in gold."""
    for c in SPECS[name].columns:
        if c.kind in NUMERIC:
            assert c.check in V.CHECKS, f"{name}.{c.name} has no validity check"


def test_same_column_kind_same_rule_everywhere():
    user_id_rules = {name: [cond for rule, cond in RULES[name] if rule == "user_id_positive"] for name in SPECS}
    assert all(len(v) == 1 for v in user_id_rules.values()), user_id_rules
    assert len({v[0] for v in user_id_rules.values()}) == 1


@pytest.mark.parametrize("name", sorted(SPECS))
def test_ids_zero_negative_non_finite_and_ancient_dates_are_quarantined_in_every_table(spark, name):
    spec = SPECS[name]
    sources = [c.source for c in spec.columns]
    good = {c.source: _valid(c) for c in spec.columns}
    cases: list[tuple[dict, str | None]] = [({}, None)]
    for c in spec.columns:
        if c.check == "id":
            cases += [({c.source: "0"}, f"{c.name}_positive"), ({c.source: "-5"}, f"{c.name}_positive")]
            lost = f"{c.name}_scientific_notation_digits_lost"  # a spreadsheet's re-save; an e alone is not one
            cases += [({c.source: "1.50396E+09"}, lost), ({c.source: "15e3"}, lost), ({c.source: ".5e1"}, lost),
                      ({c.source: "15e"}, f"{c.name}_parses_exactly"), ({c.source: "1.e5"}, f"{c.name}_parses_exactly")]
        if c.kind == "double":
            cases += [({c.source: v}, f"{c.name}_parses_exactly") for v in ("NaN", "Infinity", "-Infinity", "1e999")]
        if c.kind in BEFORE_FLOOR:
            cases.append(({c.source: BEFORE_FLOOR[c.kind]}, f"{c.name}_not_before_2000"))
    rows = [[{**good, **change}[s] for s in sources] + [None, None, "f.csv", i, T0] for i, (change, _) in
            enumerate(cases)]
    meta = "_rescued_data STRING, _corrupt_record STRING, _source_file STRING, _line INT, _ingested_at TIMESTAMP"
    df = spark.createDataFrame(rows, ", ".join(f"`{s}` STRING" for s in sources) + ", " + meta)
    checked = df.transform(T.with_typed_columns, spec.columns).transform(T.with_failed_rule, RULES[name])
    got = [r["_rule"] for r in checked.orderBy("_line").collect()]
    assert got == [rule for _, rule in cases]


def test_conditions_for_dataframe_code(spark):
    df = spark.createDataFrame([(1, 80, dt.datetime(2023, 4, 1)), (0, 400, dt.datetime(1970, 1, 1)),
                                (-5, None, dt.datetime(2999, 1, 1)), (None, 0, None)],
                               "user_id BIGINT, heart_rate INT, event_time TIMESTAMP")
    out = df.select(V.condition("id", "user_id").alias("id_ok"),
                    V.condition("heart_rate", "heart_rate", nullable=True).alias("hr_ok"),
                    V.date_condition("event_time").alias("time_ok"))
    assert [tuple(r) for r in out.collect()] == [(True, True, True), (False, False, False), (False, True, False),
                                                (False, False, False)]
    with pytest.raises(ValueError, match="Unknown check kind"):
        V.column_rules("x", "no_such_kind")


def test_the_date_floor_is_documented_and_used():
    assert V.EARLIEST_DATE == "2000-01-01"
    for name in SPECS:
        assert any(rule.endswith("_not_before_2000") for rule, _ in RULES[name]), name
