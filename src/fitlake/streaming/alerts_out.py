"""Goal alerts out to a Kafka topic, each alert exactly once as a consumer with ``isolation.level=read_committed``
sees the topic — also when the job is killed in the middle of publishing (issue #20, item 4).

``gold.goal_alerts`` is the outbox: an alert row is final once committed (insert-only MERGE) and alerts are ordered by
(``alerted_at``, ``user_id``, ``date``) — ``alerted_at`` is the pinned processing time of the micro-batch that found
the alert, so a later batch's alerts sort after every earlier one. The "published" marker lives in the topic itself:
every message of one publication carries, in the header ``fitlake_hwm``, the order key of the last alert of that
publication. Each publication is one Kafka transaction of a producer whose ``transactional.id`` is stable per
lakehouse and topic, so:

- killed before the commit: the next run's ``init_transactions`` aborts the open transaction (read-committed
  consumers never see its messages), reads the high-water mark (none moved) and publishes the same alerts again;
- killed after the commit: the high-water mark in the topic already covers those alerts, nothing is sent again.

Message: key ``<user_id>:<date>`` (the alert key), value a JSON object of the alert's columns.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.config import TableRef
from fitlake.faults import fault_point

HWM_HEADER = "fitlake_hwm"
TS_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"
TAIL = 500  # offsets read back from the end of each partition to find the last committed publication


class PublishError(RuntimeError):
    """The alerts topic could not be written; the message says where and why."""


def order_key(alerted_at: str, user_id: int, date: str) -> str:
    """Sortable text key of an alert: the publication order and the high-water mark's form."""
    return f"{alerted_at}|{user_id:020d}|{date}"


@dataclass
class AlertPublisher:
    bootstrap: str
    topic: str
    lakehouse_id: str  # stable per lakehouse (e.g. the alerts table's location): the transactional id's seed
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        digest = hashlib.sha256(f"{self.lakehouse_id}|{self.topic}".encode()).hexdigest()[:16]
        self.transactional_id = f"fitlake-goal-alerts-{digest}"
        self._producer = None
        self.published = 0

    @property
    def where(self) -> str:
        return f"Kafka topic {self.topic} at {self.bootstrap}"

    def _producer_ready(self):
        """The transactional producer; its first ``init_transactions`` fences and aborts a killed predecessor's
        open transaction, so the tail read after it sees only committed publications."""
        if self._producer is None:
            from confluent_kafka import KafkaException, Producer

            producer = Producer({
                "bootstrap.servers": self.bootstrap,
                "transactional.id": self.transactional_id,
                "enable.idempotence": True,
                "acks": "all",
                "transaction.timeout.ms": 60_000,
            })
            try:
                producer.init_transactions(self.timeout_s)
            except KafkaException as e:
                raise PublishError(f"cannot publish goal alerts to {self.where}: {e}") from e
            self._producer = producer
        return self._producer

    def high_water_mark(self) -> str | None:
        """The order key of the last alert a committed publication put in the topic (None: nothing yet)."""
        from confluent_kafka import Consumer, KafkaError, TopicPartition

        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": f"fitlake-alerts-hwm-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        })
        try:
            meta = consumer.list_topics(self.topic, timeout=self.timeout_s).topics.get(self.topic)
            if meta is None or meta.error is not None or not meta.partitions:
                return None
            span, best = TAIL, None
            while True:
                starts, lows = [], []
                for p in sorted(meta.partitions):
                    low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=self.timeout_s)
                    lows.append(max(low, high - span) <= low)
                    starts.append(TopicPartition(self.topic, p, max(low, high - span)))
                consumer.assign(starts)
                pending = {tp.partition for tp in starts}
                while pending:
                    msg = consumer.poll(self.timeout_s)
                    if msg is None:
                        raise PublishError(f"reading the tail of {self.where} timed out")
                    if msg.error():
                        if msg.error().code() == KafkaError._PARTITION_EOF:
                            pending.discard(msg.partition())
                            continue
                        raise PublishError(f"reading {self.where}: {msg.error()}")
                    for name, value in msg.headers() or []:
                        if name == HWM_HEADER and value is not None:
                            mark = value.decode()
                            best = mark if best is None or mark > best else best
                if best is not None or all(lows):
                    return best
                span *= 4  # only aborted records or markers in the tail: look further back
        finally:
            consumer.close()

    def publish(self, spark: SparkSession, alerts: TableRef) -> int:
        """Publish every alert of ``alerts`` after the topic's high-water mark, in one transaction; return how many."""
        from confluent_kafka import KafkaException

        producer = self._producer_ready()
        hwm = self.high_water_mark()
        df = delta_io.read(spark, alerts)
        if hwm is not None:
            df = df.where(F.col("alerted_at") >= F.lit(hwm.split("|", 1)[0]).cast("timestamp"))
        rows = df.select(
            F.date_format("alerted_at", TS_FORMAT).alias("_at"), "user_id", F.col("date").cast("string").alias("date"),
            "goal", "steps_at_alert", F.date_format("crossed_at", TS_FORMAT).alias("crossed_at"),
        ).collect()
        todo = sorted((order_key(r["_at"], r["user_id"], r["date"]), r) for r in rows)
        todo = [(k, r) for k, r in todo if hwm is None or k > hwm]
        if not todo:
            return 0
        mark = todo[-1][0].encode()
        try:
            producer.begin_transaction()
            for i, (_key, r) in enumerate(todo):
                value = {"user_id": r["user_id"], "date": r["date"], "goal": r["goal"],
                         "steps_at_alert": r["steps_at_alert"], "crossed_at": r["crossed_at"], "alerted_at": r["_at"]}
                producer.produce(self.topic, key=f"{r['user_id']}:{r['date']}".encode(),
                                 value=json.dumps(value).encode(), headers=[(HWM_HEADER, mark)])
                if i == 0:
                    producer.flush(self.timeout_s)  # the first record is in the log, uncommitted
                    fault_point("stream:alerts:publish")
            producer.commit_transaction(self.timeout_s)
        except KafkaException as e:
            try:
                producer.abort_transaction(self.timeout_s)
            except KafkaException:
                pass
            raise PublishError(f"publishing goal alerts to {self.where} failed: {e}") from e
        fault_point("stream:alerts:published")
        self.published += len(todo)
        return len(todo)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.timeout_s)
            self._producer = None
