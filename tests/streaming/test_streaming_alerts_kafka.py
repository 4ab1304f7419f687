"""Goal alerts out to Kafka (issue #20, item 4): each alert in the topic exactly once as a read-committed consumer
sees it — after a kill -9 in the middle of a publication (records in the log, transaction open) and after a kill -9
right after its commit — against the real local broker."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter

import pytest

from fitlake.config import Settings
from streaming_helpers import event, read_table, write_events

TOPIC = "fitlake_goal_alerts"
GOAL = 100


def committed_alert_keys(bootstrap: str) -> Counter:
    """Every record a read-committed consumer sees in the topic, counted by key."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{uuid.uuid4()}",
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = consumer.list_topics(TOPIC, timeout=30).topics[TOPIC].partitions
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in partitions])
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
            "--step-goal", str(GOAL), "--alerts-topic", TOPIC, "--alerts-bootstrap", bootstrap]
    env = {"FITLAKE_JIT": "c1",  # a stream, no training: C1's less CPU (tests/faults/fault_jobs.job_env)
           **os.environ, "FITLAKE_FAULT_KILL_AT": kill_at, "FITLAKE_DRIVER_MEMORY": "1g"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, start_new_session=True)


@pytest.mark.kafka
@pytest.mark.slow
def test_each_goal_alert_reaches_the_topic_once_across_kill_9_while_publishing(spark, kafka, tmp_path):
    from fitlake.streaming.job import StreamOptions, run_stream

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
    summary = run_stream(spark, settings, StreamOptions(available_now=True, alerts_topic=TOPIC,
                                                        alerts_bootstrap=kafka.bootstrap), poll_seconds=0.1)
    assert summary["alerts_published"] == {"to": f"Kafka topic {TOPIC} at {kafka.bootstrap}", "published": 1}
    expected["1004:2023-04-01"] = 1
    assert committed_alert_keys(kafka.bootstrap) == expected  # nothing republished, the new alert once
    table = {f"{r['user_id']}:{r['date']}" for r in read_table(spark, settings, "gold", "goal_alerts").collect()}
    assert table == set(expected)
