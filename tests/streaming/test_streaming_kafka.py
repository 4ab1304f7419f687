"""Kafka end to end against a real local KRaft broker: produce (with a replay and a non-JSON message), stream,
check bronze, quarantine, silver and the windows. Plus the Fitbit-export replay format."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from chispa import assert_df_equality

from fitlake.cli import main as fitlake
from fitlake.config import Settings
from fitlake.streaming.produce import event_file_records, fitbit_hourly_records, produce
from streaming_helpers import U1, U2, WINDOW_COLUMNS, event, read_table, write_events

TOPIC = "fitbit_wellness_stream"


@pytest.mark.kafka
@pytest.mark.slow
def test_kafka_end_to_end_with_replay_and_malformed_message(spark, kafka, tmp_path):
    landing = tmp_path / "landing"
    write_events(landing, "part-00000.json", [
        event("k1", U1, "08:00:05", 100, 90),
        event("k2", U1, "08:00:20", 50, 110),
        event("k3", U2, "08:00:10", 200, 150, activity_type="running"),
        "not json",
        event("k4", U1, "08:02:00", 10, 95),  # moves the watermark to 08:01:00: the 08:00 windows are final
    ])
    assert fitlake(["produce", "--bootstrap", kafka.bootstrap, "--topic", TOPIC, "--events", str(landing / "events")]) == 0
    # A replay of the same file: the idempotent producer does not dedupe across sends, silver does (event_id).
    assert produce(kafka.bootstrap, TOPIC, event_file_records(landing / "events"))["delivered"] == 5

    settings = Settings(root=tmp_path / "lakehouse", step_goal=300)
    proc = subprocess.run(
        [sys.executable, "-m", "fitlake.cli", "stream", "--source", "kafka", "--bootstrap", kafka.bootstrap,
         "--topic", TOPIC, "--available-now", "--json", "--root", str(settings.root), "--step-goal", "300"],
        capture_output=True, text=True, timeout=600,
        # a stream, no training: C1's less CPU (tests/faults/fault_jobs.job_env)
        env={"FITLAKE_JIT": "c1", **__import__("os").environ, "FITLAKE_DRIVER_MEMORY": "1g"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["events_in"] == 10
    assert summary["quarantined_by_rule"] == {"malformed_json": 2}
    assert summary["rows_added"]["silver.events"] == 4

    bronze = read_table(spark, settings, "bronze", "events_kafka")
    assert bronze.columns[:6] == ["key", "value", "topic", "partition", "offset", "timestamp"]
    rows = bronze.collect()
    assert len(rows) == 10 and {r["topic"] for r in rows} == {TOPIC}
    assert {(r["key"], json.loads(r["value"])["event_id"]) for r in rows if r["key"]} == {
        (str(U1), "k1"), (str(U1), "k2"), (str(U2), "k3"), (str(U1), "k4")}
    assert len({(r["partition"], r["offset"]) for r in rows}) == 10
    quarantine = read_table(spark, settings, "quarantine", "events_kafka").collect()
    assert [(q["value"], q["_rule"]) for q in quarantine] == [("not json", "malformed_json")] * 2

    t = lambda hms: dt.datetime.fromisoformat(f"2023-04-01 {hms}")  # noqa: E731
    expected = spark.createDataFrame(
        [(U1, "walking", t("08:00:00"), t("08:00:30"), 150, 2.0, 100.0, 110, 2),
         (U2, "running", t("08:00:00"), t("08:00:30"), 200, 1.0, 150.0, 150, 1),
         (U1, "walking", t("08:02:00"), t("08:02:30"), 10, 1.0, 95.0, 95, 1)],  # k4's window, still open
        "user_id bigint, activity_type string, window_start timestamp, window_end timestamp, steps bigint, "
        "calories double, avg_heart_rate double, max_heart_rate int, event_count bigint",
    )
    windows = read_table(spark, settings, "gold", "event_windows").select(*WINDOW_COLUMNS)
    assert_df_equality(windows, expected, ignore_row_order=True, ignore_nullable=True)
    silver = read_table(spark, settings, "silver", "events")
    assert sorted(r["event_id"] for r in silver.collect()) == ["k1", "k2", "k3", "k4"]
    assert {r["_source"] for r in silver.collect()} == {"kafka"}


def test_fitbit_hourly_rows_become_events_and_bad_rows_are_sent_raw(tmp_path):
    folder = tmp_path / "fitbit" / "2016-04-12_2016-05-12"
    folder.mkdir(parents=True)
    (folder / "hourlySteps_merged.csv").write_bytes(
        b"Id,ActivityHour,StepTotal\r\n1503960366,4/12/2016 12:00:00 AM,373\r\n"
        b"1503960366,4/12/2016 1:00:00 PM,0\r\n1503960366,not a time,5\r\n")
    (folder / "hourlyCalories_merged.csv").write_bytes(
        b"Id,ActivityHour,Calories\r\n1503960366,4/12/2016 12:00:00 AM,81\r\n")
    records = list(fitbit_hourly_records(tmp_path / "fitbit"))
    assert [json.loads(v) for _, v in records[:2]] == [
        {"event_id": "fitbit-hourly-1503960366-20160412T00", "user_id": 1503960366,
         "event_time": "2016-04-12T00:00:00.000Z", "steps": 373, "heart_rate": None, "calories": 81.0,
         "activity_type": None},
        {"event_id": "fitbit-hourly-1503960366-20160412T13", "user_id": 1503960366,
         "event_time": "2016-04-12T13:00:00.000Z", "steps": 0, "heart_rate": None, "calories": None,
         "activity_type": None},
    ]
    assert records[0][0] == b"1503960366"
    assert records[2] == (None, b"1503960366,not a time,5")


def test_fitbit_replay_of_the_real_export_is_one_event_per_row(kaggle_dir):
    lines = (kaggle_dir / "hourlySteps_merged.csv").read_bytes().count(b"\n") - 1
    records = list(fitbit_hourly_records(kaggle_dir))
    assert len(records) == lines and all(key is not None for key, _ in records)
    assert len({json.loads(v)["event_id"] for _, v in records}) == lines
