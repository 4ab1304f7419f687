"""The local broker's KRaft cluster id never starts with ``-`` (Kafka's format tool would read it as an option)."""

from __future__ import annotations

import uuid

from fitlake.streaming import broker


def test_a_cluster_id_that_would_start_with_a_dash_is_drawn_again(monkeypatch):
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x00" * 16)])
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: next(draws))
    assert broker.new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"  # the second draw: the first began with "-"


def test_cluster_ids_are_22_url_safe_characters():
    ids = {broker.new_cluster_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(len(i) == 22 and not i.startswith("-") and "=" not in i for i in ids)
