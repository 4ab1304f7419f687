"""Fixtures shared by the streaming tests."""

from __future__ import annotations

import pytest

from fitlake.streaming.broker import LocalKafka, broker_available


@pytest.fixture(scope="module")
def kafka(tmp_path_factory, request):
    """A local KRaft broker on 127.0.0.1 for one test module, with that module's ``TOPIC`` (2 partitions); a test
    that needs another topic creates it (``kafka.create_topic``)."""
    if not broker_available():
        pytest.skip("Kafka broker jars missing: run `make kafka`")
    with LocalKafka(tmp_path_factory.mktemp("kafka")) as broker:
        broker.create_topic(request.module.TOPIC, partitions=2)
        yield broker
