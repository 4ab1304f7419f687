"""dashboard.data: Delta reads without a JVM (and one check against tables delta-spark wrote)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from fitlake.config import Settings
from fitlake.dashboard import data

UTC = dt.timezone.utc


def _hourly(path, hours: list[dt.datetime], users: list, mode: str = "error") -> None:
    write_deltalake(
        str(path),
        pa.table({"user_id": pa.array(users, pa.int64()),
                  "activity_hour": pa.array(hours, pa.timestamp("us", tz="UTC")),
                  "steps": pa.array([10 * i for i in range(len(users))], pa.int32())}),
        mode=mode,
    )


def test_delta_version_missing_empty_and_after_commits(tmp_path):
    assert data.delta_version(tmp_path / "nope") is None
    (tmp_path / "empty" / "_delta_log").mkdir(parents=True)
    assert data.delta_version(tmp_path / "empty") is None
    hours = [dt.datetime(2023, 4, 1, 8, tzinfo=UTC)]
    _hourly(tmp_path / "t", hours, [1])
    assert data.delta_version(tmp_path / "t") == 0
    _hourly(tmp_path / "t", hours, [2], mode="append")
    assert data.delta_version(tmp_path / "t") == 1


def test_table_status_of_missing_and_existing_table(tmp_path):
    missing = data.table_status("gold", "x", str(tmp_path / "x"))
    assert not missing.exists and missing.rows is None
    _hourly(tmp_path / "t", [dt.datetime(2023, 4, 1, h, tzinfo=UTC) for h in range(3)], [1, 2, 3])
    status = data.table_status("gold", "t", str(tmp_path / "t"))
    assert (status.version, status.rows, status.operation) == (0, 3, "WRITE")
    assert status.last_commit.tzinfo is not None
    frame = data.status_frame([missing, status])
    assert frame["version"].tolist()[1] == 0 and frame["rows"].isna().tolist() == [True, False]


@pytest.mark.parametrize(
    "types, flt, expected",
    [
        ({"user_id": "long"}, data.TableFilter(), "TRUE"),
        ({"user_id": "long"}, data.TableFilter((0, 1503960366)), '"user_id" IN (0, 1503960366)'),
        ({"Id": "string"}, data.TableFilter((1503960366,)), "\"Id\" IN ('1503960366')"),
        ({"user_id": "long", "date": "date"}, data.TableFilter((), dt.date(2023, 4, 1), dt.date(2023, 4, 1)),
         "\"date\" >= DATE '2023-04-01' AND \"date\" <= DATE '2023-04-01'"),
        ({"time": "timestamp"}, data.TableFilter((), None, dt.date(2023, 4, 1)),
         "\"time\" < TIMESTAMP '2023-04-02 00:00:00'"),
        # bronze keeps dates as text: no date filter rather than a wrong one
        ({"ActivityDate": "string"}, data.TableFilter((), dt.date(2023, 4, 1), None), "TRUE"),
    ],
)
def test_where_clause(types, flt, expected):
    assert data.where_clause(types, flt) == expected


def test_read_filters_users_and_inclusive_day_on_timestamps(tmp_path):
    hours = [dt.datetime(2023, 4, 1, 23, 30, tzinfo=UTC), dt.datetime(2023, 4, 2, 0, 0, tzinfo=UTC),
             dt.datetime(2023, 4, 1, 0, 0, tzinfo=UTC), dt.datetime(2023, 4, 1, 12, 0, tzinfo=UTC)]
    _hourly(tmp_path / "t", hours, [1, 1, 2, None])
    path = tmp_path / "t"
    day = data.TableFilter((1, 2), dt.date(2023, 4, 1), dt.date(2023, 4, 1))
    rows = data.read_table(path, flt=day, order_by="activity_hour")
    assert rows["activity_hour"].dt.hour.tolist() == [23, 0]  # newest first; 2023-04-02 00:00 excluded
    assert data.count_rows(path, day) == 2
    assert data.count_rows(path) == 4
    assert data.read_table(path, columns=["steps"], limit=1).shape == (1, 1)
    assert data.user_ids(path) == [1, 2]  # null user left out
    assert data.date_range(path) == (dt.date(2023, 4, 1), dt.date(2023, 4, 2))


def test_quarantine_counts_by_rule_with_null_rule(tmp_path):
    settings = Settings(root=tmp_path)
    assert data.quarantine_counts(settings).empty
    write_deltalake(settings.table("quarantine", "sleep_day").path,
                    pa.table({"Id": ["1", "2", "3"], "_rule": ["bad_date", None, "bad_date"]}))
    write_deltalake(settings.table("quarantine", "activity").path,
                    pa.table({"user_id": ["x"], "_rule": ["user_id_not_bigint"]}))
    counts = data.quarantine_counts(settings)
    assert counts.to_dict("records") == [
        {"table": "sleep_day", "rule": "bad_date", "rows": 2},
        {"table": "activity", "rule": "user_id_not_bigint", "rows": 1},
        {"table": "sleep_day", "rule": "(no rule)", "rows": 1},
    ]
    assert data.lakehouse_exists(settings) and not data.lakehouse_exists(Settings(root=tmp_path / "none"))


def test_reads_what_delta_spark_writes_clustered_and_with_deletion_vectors(spark, settings):
    """The gold DDL (liquid clustering) and a soft delete (deletion vectors) read right without Spark."""
    from fitlake.gold.job import apply_ddl

    apply_ddl(spark, settings)
    sleep = settings.table("gold", "fact_sleep")
    spark.sql(f"INSERT INTO delta.`{sleep.path}` (user_id, date, minutes_asleep, time_in_bed, sleep_efficiency) "
              "VALUES (1503960366, DATE'2023-04-01', 400, 0, NULL), (1503960366, DATE'2023-04-02', 360, 400, 0.9)")
    status = data.table_status("gold", "fact_sleep", sleep.path)
    assert status.rows == 2 and status.version >= 1
    assert data.table_schema(sleep.path).set_index("column").loc["sleep_efficiency", "type"] == "double"
    rows = data.read_table(sleep.path, flt=data.TableFilter((1503960366,), dt.date(2023, 4, 2)))
    assert rows["sleep_efficiency"].tolist() == [0.9]

    dv = str(settings.root / "dv")
    spark.sql(f"CREATE TABLE delta.`{dv}` (user_id BIGINT) USING DELTA "
              "TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    spark.sql(f"INSERT INTO delta.`{dv}` VALUES (1), (2), (3)")
    spark.sql(f"DELETE FROM delta.`{dv}` WHERE user_id = 2")
    assert data.row_count(dv) == 2
    assert sorted(data.read_table(dv)["user_id"]) == [1, 3]
    assert [h["operation"] for h in data.table_history(dv).to_dict("records")][:1] == ["DELETE"]
