"""Silver reads bronze in bounded micro-batches: splitting one load into many batches changes no silver row."""

from __future__ import annotations

import datetime as dt
import shutil

from fitlake import delta_io
from fitlake.silver.job import process_table
from fitlake.silver.specs import SPECS

T1 = dt.datetime(2024, 1, 1)
COLS = [c.source for c in SPECS["sleep_day"].columns]
META = "_rescued_data STRING, _corrupt_record STRING, _source_file STRING, _line INT, _ingested_at TIMESTAMP"

# One bronze commit per landing file, in the order a stream would append them.
FILES = [
    ("b.csv", [("1", "4/12/2016 12:00:00 AM", "1", "310", "350"),  # the correction of a.csv's user 1 ...
               ("2", "4/12/2016 12:00:00 AM", "1", "400", "450")]),
    ("a.csv", [("1", "4/12/2016 12:00:00 AM", "1", "300", "350"),  # ... arriving in an earlier-named file later
               ("3", "4/12/2016 12:00:00 AM", "1", "500", "450"),  # asleep > in bed: quarantined
               ("4", "4/13/2016 12:00:00 AM", "1", "0", "0")]),  # zero minutes: valid
    ("c.csv", [("2", "4/12/2016 12:00:00 AM", "1", "400", "450"),  # identical re-delivery
               ("4", "4/13/2016 12:00:00 AM", "1", "0", "5")]),  # newer file, new value: wins
]


def _load_bronze(spark, settings) -> None:
    path = settings.table("bronze", "sleep_day").path
    for name, rows in FILES:
        data = [(*r, None, None, name, i + 2, T1) for i, r in enumerate(rows)]
        df = spark.createDataFrame(data, ", ".join(f"{c} STRING" for c in COLS) + ", " + META)
        df.coalesce(1).write.format("delta").mode("append").save(path)


def _rows(spark, settings, layer: str, cols: list[str]) -> list[tuple]:
    df = delta_io.read(spark, settings.table(layer, "sleep_day")).select(*cols)
    return sorted((tuple(r) for r in df.collect()), key=repr)


def test_many_small_batches_give_the_same_silver_as_one(spark, settings, tmp_path):
    one = settings.with_overrides(root=tmp_path / "one")
    many = settings.with_overrides(root=tmp_path / "many", silver_batch_bytes="1b")  # one bronze file per batch
    _load_bronze(spark, one)
    shutil.copytree(one.root / "bronze", many.root / "bronze")

    counts = {name: process_table(spark, s, "sleep_day") for name, s in (("one", one), ("many", many))}
    assert (counts["one"].batches, counts["many"].batches) == (1, 3)
    assert counts["one"].rows_in == counts["many"].rows_in == 7

    # Values, not lineage: an identical re-delivery in a later batch leaves the row (and its _source_file) alone,
    # while inside one batch the latest file is the one kept.
    silver_cols = ["user_id", "sleep_date", "total_minutes_asleep", "total_time_in_bed"]
    assert _rows(spark, one, "silver", silver_cols) == _rows(spark, many, "silver", silver_cols) == [
        (1, dt.datetime(2016, 4, 12), 310, 350),
        (2, dt.datetime(2016, 4, 12), 400, 450),
        (4, dt.datetime(2016, 4, 13), 0, 5),
    ]
    quarantine_cols = ["_rule", "_source_file", "_line"]
    assert _rows(spark, one, "quarantine", quarantine_cols) == _rows(spark, many, "quarantine", quarantine_cols) == [
        ("asleep_not_more_than_in_bed", "a.csv", 3)]
