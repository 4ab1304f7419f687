"""Kafka against ONE real local KRaft broker for the module (each broker start is two JVMs, ~5 s): end to end,
produce (with a replay and a non-JSON message), stream, check bronze, quarantine, silver and the windows; goal
alerts out to Kafka (issue #20, item 4): each alert in its topic exactly once as a read-committed consumer sees it,
after a kill -9 in the middle of a publication (records in the log, transaction open) and after a kill -9 right
after its commit. Plus the Fitbit-export replay format."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections import Counter

import pytest
from chispa import assert_df_equality

from fitlake.cli import main as fitlake
from fitlake.config import Settings
from fitlake.streaming.produce import event_file_records, fitbit_hourly_records, produce
from streaming_helpers import U1, U2, WINDOW_COLUMNS, event, read_table, write_events

TOPIC = "fitbit_wellness_stream"  # created by the ``kafka`` fixture (tests/streaming/conftest.py)
ALERTS_TOPIC = "fitlake_goal_alerts"  # created by the alerts test on the same broker
GOAL = 100


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


def committed_alert_keys(bootstrap: str) -> Counter:
    """Every record a read-committed consumer sees in the topic, counted by key."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{uuid.uuid4()}",
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = consumer.list_topics(ALERTS_TOPIC, timeout=30).topics[ALERTS_TOPIC].partitions
        consumer.assign([TopicPartition(ALERTS_TOPIC, p, 0) for p in partitions])
        keys, pending = Counter(), set(partitions)
        while pending:
            msg = consumer.poll(30)
            assert msg is not None, "the alerts topic could not be read to its end"
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                pending.discard(msg.partition())
            else:
                keys[msg.key().decode()] += 1
        return keys
    finally:
        consumer.close()


def _stream(settings: Settings, bootstrap: str, kill_at: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "fitlake.cli", "stream", "--root", str(settings.root), "--available-now",
            "--step-goal", str(GOAL), "--alerts-topic", ALERTS_TOPIC, "--alerts-bootstrap", bootstrap]
    env = {"FITLAKE_JIT": "c1",  # a stream, no training: C1's less CPU (tests/faults/fault_jobs.job_env)
           **os.environ, "FITLAKE_FAULT_KILL_AT": kill_at, "FITLAKE_DRIVER_MEMORY": "1g"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, start_new_session=True)


@pytest.mark.kafka
@pytest.mark.slow
def test_each_goal_alert_reaches_the_topic_once_across_kill_9_while_publishing(spark, kafka, tmp_path):
    from fitlake.streaming.job import StreamOptions, run_stream

    kafka.create_topic(ALERTS_TOPIC, partitions=2)  # the module's broker: this test's own topic
    settings = Settings(root=tmp_path / "lake", step_goal=GOAL)
    write_events(settings.landing_dir, "part-00000.json",
                 [event(f"e{u}", u, "08:00:05", 150) for u in (1001, 1002, 1003)])  # three alerts, one batch

    killed = _stream(settings, kafka.bootstrap, "stream:alerts:publish@1")  # first record sent, not committed
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert read_table(spark, settings, "gold", "goal_alerts").count() == 3
    assert committed_alert_keys(kafka.bootstrap) == Counter()  # the open transaction is invisible ...

    killed = _stream(settings, kafka.bootstrap, "stream:alerts:published@1")  # the rerun's catch-up commits, dies
    assert killed.returncode == -9, killed.stderr[-3000:]
    expected = Counter({"1001:2023-04-01": 1, "1002:2023-04-01": 1, "1003:2023-04-01": 1})
    assert committed_alert_keys(kafka.bootstrap) == expected  # ... aborted by the rerun, which published all three

    write_events(settings.landing_dir, "part-00001.json", [event("e1004", 1004, "08:01:00", 100)])
    summary = run_stream(spark, settings, StreamOptions(available_now=True, alerts_topic=ALERTS_TOPIC,
                                                        alerts_bootstrap=kafka.bootstrap), poll_seconds=0.1)
    assert summary["alerts_published"] == {"to": f"Kafka topic {ALERTS_TOPIC} at {kafka.bootstrap}", "published": 1}
    expected["1004:2023-04-01"] = 1
    assert committed_alert_keys(kafka.bootstrap) == expected  # nothing republished, the new alert once
    table = {f"{r['user_id']}:{r['date']}" for r in read_table(spark, settings, "gold", "goal_alerts").collect()}
    assert table == set(expected)
