"""Gold's own small reads (its state, a table's "has rows", the completeness summary) use the independent Delta
reader, which cannot open a path holding a backslash (it reads one as a separator): there they fall back to Spark."""

from __future__ import annotations

from fitlake import delta_io
from fitlake.config import Settings
from fitlake.gold.job import pending_bytes, read_state, write_state


def test_gold_state_round_trips_under_a_root_with_a_backslash(spark, tmp_path):
    hostile = Settings(root=tmp_path / "back\\slash ü" / "lake")
    plain = Settings(root=tmp_path / "plain" / "lake")
    assert not delta_io.rs_readable(hostile.table("ops", "gold_state"))
    assert delta_io.rs_readable(plain.table("ops", "gold_state"))
    for settings in (hostile, plain):
        assert read_state(spark, settings) == {}
        write_state(spark, settings, {"silver.daily_activity": 3, "silver.sleep_day": 0})
        assert read_state(spark, settings) == {"silver.daily_activity": 3, "silver.sleep_day": 0}
    # without Spark (the no-op check, sizing a run) the hostile root's state reads as "nothing read yet": no crash
    assert read_state(None, hostile) == {}
    assert read_state(None, plain) == {"silver.daily_activity": 3, "silver.sleep_day": 0}
    assert pending_bytes(hostile) == 0  # no silver yet
    # a plainly named link to the hostile root: delta-rs resolves it and fails the same way, so Spark reads it too
    (tmp_path / "link").symlink_to(tmp_path / "back\\slash ü")
    linked = Settings(root=tmp_path / "link" / "lake")
    assert not delta_io.rs_readable(linked.table("ops", "gold_state"))
    assert read_state(spark, linked) == {"silver.daily_activity": 3, "silver.sleep_day": 0}


def test_read_dates_reads_only_the_files_that_may_hold_the_days(spark, tmp_path):
    """A +1 day's gold reads its inputs for the scope's days: locally only the files whose statistics may hold
    them (no Delta file-skipping job), with the same rows as Delta's filtered read, for a date column and for a
    timestamp column (a day ends at the next midnight, UTC); a root delta-rs cannot open is read by Delta."""
    import datetime as dt

    from pyspark.sql import functions as F

    from fitlake.gold.job import GoldRun

    def append(settings, layer, name, rows, schema):
        delta_io.write(spark.createDataFrame(rows, schema).coalesce(1), settings.table(layer, name), mode="append")

    for root in (tmp_path / "plain" / "lake", tmp_path / "back\\slash" / "lake"):
        settings = Settings(root=root)
        run = GoldRun(spark, settings)
        assert run.read_dates("gold", "fact_sleep", "date", dt.date(2023, 4, 1), dt.date(2023, 4, 1)) is None
        append(settings, "gold", "fact_sleep", [(1, dt.date(2023, 4, 1)), (2, dt.date(2023, 4, 2))], "user_id long, date date")
        append(settings, "gold", "fact_sleep", [(3, dt.date(2023, 4, 10))], "user_id long, date date")
        got = run.read_dates("gold", "fact_sleep", "date", dt.date(2023, 4, 10), dt.date(2023, 4, 10))
        assert [r.user_id for r in got.collect()] == [3]
        assert len(got.inputFiles()) == 1  # the other file's statistics say it holds no such day
        ts = [(1, dt.datetime(2023, 4, 1, 23, 59, 59)), (2, dt.datetime(2023, 4, 2, 0, 0))]
        append(settings, "silver", "hourly_steps", ts, "user_id long, activity_hour timestamp")
        append(settings, "silver", "hourly_steps", [(3, dt.datetime(2023, 4, 5, 12, 0))], "user_id long, activity_hour timestamp")
        got = run.read_dates("silver", "hourly_steps", "activity_hour", dt.date(2023, 4, 1), dt.date(2023, 4, 1))
        assert [r.user_id for r in got.collect()] == [1]
        want = delta_io.read(spark, settings.table("silver", "hourly_steps")).where(F.to_date("activity_hour") <= "2023-04-02")
        got = run.read_dates("silver", "hourly_steps", "activity_hour", dt.date(2023, 3, 30), dt.date(2023, 4, 2))
        assert sorted(r.user_id for r in got.collect()) == sorted(r.user_id for r in want.collect()) == [1, 2]
        # locally the files themselves (Parquet), under a root delta-rs cannot open Delta's scan
        as_files = "InMemoryFileIndex" in got._jdf.queryExecution().executedPlan().toString()
        assert as_files == delta_io.rs_readable(settings.table("silver", "hourly_steps"))
