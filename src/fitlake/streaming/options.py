"""What a streaming run is asked to do (``StreamOptions``) and the one error type it raises for the user."""

from __future__ import annotations

from dataclasses import dataclass

from fitlake.streaming.schema import DEFAULT_TOPIC

SOURCES = ("files", "kafka")


class StreamError(RuntimeError):
    """A streaming problem the user can act on, said in one sentence."""


@dataclass(frozen=True)
class StreamOptions:
    source: str = "files"
    trigger_seconds: float = 5.0  # processing-time trigger of the live mode
    available_now: bool = False  # process what is there, then stop
    until_events: int | None = None  # live mode: stop once this many events were ingested
    until_seconds: float | None = None  # live mode: stop after this long
    bootstrap: str | None = None  # Kafka bootstrap servers
    topic: str = DEFAULT_TOPIC
    max_files_per_trigger: int | None = None
    max_offsets_per_trigger: int | None = None
    alerts_topic: str | None = None  # publish goal alerts to this Kafka topic (exactly once per alert)
    alerts_bootstrap: str | None = None  # its brokers (default: ``bootstrap``)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise StreamError(f"Unknown source {self.source!r}: choose one of {', '.join(SOURCES)}.")
        if self.source == "kafka" and not self.bootstrap:
            raise StreamError("--source kafka needs --bootstrap HOST:PORT (e.g. the broker of `make kafka`).")
        if self.alerts_topic and not (self.alerts_bootstrap or self.bootstrap):
            raise StreamError("--alerts-topic needs --alerts-bootstrap HOST:PORT (or --bootstrap).")
