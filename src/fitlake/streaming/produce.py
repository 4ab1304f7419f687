"""``fitlake produce``: replay live-event files and/or Fitbit export rows to a Kafka topic.

Keyed by user id (one user's events stay in order on one partition), idempotent producer with ``acks=all`` (a
retried send is not duplicated by the broker). Lines we cannot read are sent as they are, so the stream's
quarantine sees real bad input instead of us filtering it out here.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from fitlake.options import add_common_arguments, settings_from_args
from fitlake.streaming.schema import DEFAULT_TOPIC

Record = tuple[bytes | None, bytes]  # (key, value)
FITBIT_TIME = "%m/%d/%Y %I:%M:%S %p"  # 4/12/2016 1:00:00 AM (strptime accepts the unpadded month/day/hour)


def event_file_records(folder: Path) -> Iterator[Record]:
    """Every line of the live-event files under ``folder`` (sorted, dot-temp files skipped), as sent by devices."""
    for path in sorted(p for p in Path(folder).rglob("*.json") if not p.name.startswith(".")):
        with open(path, "rb") as f:
            for raw in f:
                line = raw.rstrip(b"\r\n")
                if line.strip():
                    yield _user_key(line), line


def _user_key(line: bytes) -> bytes | None:
    try:
        record = json.loads(line)
        return str(int(record["user_id"])).encode() if isinstance(record, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


def fitbit_hourly_records(folder: Path) -> Iterator[Record]:
    """Fitbit export hourly rows as live events: one event per user-hour at the hour's start with that hour's
    steps and (from ``hourlyCalories`` beside it, when present) calories. The export has no heart rate per hour and
    no activity type, so those stay null. ``event_id`` is derived from user and hour, so a replay is deduplicated
    by silver."""
    for steps_file in sorted(Path(folder).rglob("hourlySteps_merged*.csv")):
        calories = _hourly_calories(steps_file.parent)
        with open(steps_file, newline="") as f:
            reader = csv.reader(f)
            next(reader, None)  # header
            for row in reader:
                yield _hourly_event(row, calories)


def _hourly_calories(folder: Path) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for path in sorted(folder.glob("hourlyCalories_merged*.csv")):
        with open(path, newline="") as f:
            rows = csv.reader(f)
            next(rows, None)
            for row in rows:
                if len(row) == 3:
                    out[(row[0], row[1])] = row[2]
    return out


def _hourly_event(row: list[str], calories: dict[tuple[str, str], str]) -> Record:
    try:
        user_id, hour, steps = row
        start = dt.datetime.strptime(hour.strip(), FITBIT_TIME)
        event = {
            "event_id": f"fitbit-hourly-{int(user_id)}-{start:%Y%m%dT%H}",
            "user_id": int(user_id),
            "event_time": f"{start:%Y-%m-%dT%H:%M:%S}.000Z",
            "steps": int(steps),
            "heart_rate": None,
            "calories": float(calories[(user_id, hour)]) if (user_id, hour) in calories else None,
            "activity_type": None,
        }
    except ValueError:  # wrong field count, unparsable number or time: send the raw row
        return None, ",".join(row).encode()
    return str(event["user_id"]).encode(), json.dumps(event, separators=(",", ":")).encode()


def produce(bootstrap: str, topic: str, records: Iterable[Record], limit: int | None = None,
            timeout: float = 60.0) -> dict:
    """Send ``records`` and wait for every acknowledgement; raise when any send failed."""
    from confluent_kafka import KafkaException, Producer

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
        "client.id": "fitlake-produce",
    })
    counts = {"sent": 0, "delivered": 0, "failed": 0, "unkeyed": 0}
    errors: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is None:
            counts["delivered"] += 1
        else:
            counts["failed"] += 1
            errors.append(str(err))

    for key, value in records:
        if limit is not None and counts["sent"] >= limit:
            break
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.5)
            except KafkaException as e:
                raise RuntimeError(f"Kafka rejected a record for {topic}: {e}") from e
        counts["sent"] += 1
        counts["unkeyed"] += key is None
        producer.poll(0)
    remaining = producer.flush(timeout)
    if remaining or counts["failed"]:
        raise RuntimeError(f"{counts['failed']} records failed and {remaining} were not acknowledged within "
                           f"{timeout:.0f} s by {bootstrap}: {errors[:3]}")
    return counts


def add_arguments(parser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--bootstrap", required=True, metavar="HOST:PORT", help="Kafka bootstrap servers")
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help=f"topic (default {DEFAULT_TOPIC})")
    parser.add_argument("--from-landing", default=None, metavar="DIR",
                        help="replay the Fitbit export's hourly rows found under DIR (e.g. <landing>/fitbit)")
    parser.add_argument("--events", nargs="?", const="", default=None, metavar="DIR",
                        help="replay live-event files from DIR (default <landing>/events)")
    parser.add_argument("--limit", type=int, default=None, help="send at most N records")


def main(args) -> int:
    if args.from_landing is None and args.events is None:
        print("fitlake produce: say what to replay: --events [DIR] and/or --from-landing DIR", file=sys.stderr)
        return 2
    sources: list[Iterable[Record]] = []
    if args.events is not None:
        folder = Path(args.events) if args.events else settings_from_args(args).landing_dir / "events"
        if not folder.is_dir():
            print(f"fitlake produce: no events folder at {folder}", file=sys.stderr)
            return 2
        sources.append(event_file_records(folder))
    if args.from_landing is not None:
        if not Path(args.from_landing).is_dir():
            print(f"fitlake produce: no folder at {args.from_landing}", file=sys.stderr)
            return 2
        sources.append(fitbit_hourly_records(Path(args.from_landing)))

    def chained() -> Iterator[Record]:
        for source in sources:
            yield from source

    try:
        counts = produce(args.bootstrap, args.topic, chained(), limit=args.limit)
    except RuntimeError as e:
        print(f"fitlake produce: {e}", file=sys.stderr)
        return 1
    print(f"fitlake produce: {counts['delivered']} records acknowledged on {args.topic} at {args.bootstrap} "
          f"({counts['unkeyed']} without a user key: not JSON or no user_id)")
    return 0
