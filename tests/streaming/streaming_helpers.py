"""Write live-event files the way the generator does (JSON lines, dot-temp name then rename) for the tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

U1 = 1503960366
U2 = 1624580081


def event(event_id: str, user_id: int, time: str, steps: int, heart_rate: int | None = 90,
          calories: float | None = 1.0, activity_type: str = "walking") -> dict:
    return {"event_id": event_id, "user_id": user_id, "event_time": f"2023-04-01T{time}Z", "steps": steps,
            "heart_rate": heart_rate, "calories": calories, "activity_type": activity_type}


def write_events(landing: Path, name: str, records: list, mtime: float | None = None) -> Path:
    """One events file; ``records`` are dicts (written as JSON) or raw strings (written as they are). The file
    source orders files by modification time, so tests that cap files per batch set it explicitly."""
    folder = landing / "events"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    tmp = folder / f".{name}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    final = folder / name
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.replace(tmp, final)
    return final


def run_available_now(spark, settings, **options) -> dict:
    from fitlake.streaming.job import StreamOptions, run_stream

    return run_stream(spark, settings, StreamOptions(available_now=True, **options), poll_seconds=0.1)


def read_table(spark, settings, layer: str, name: str):
    from fitlake import delta_io

    return delta_io.read(spark, settings.table(layer, name))


WINDOW_COLUMNS = ["user_id", "activity_type", "window_start", "window_end", "steps", "calories", "avg_heart_rate",
                  "max_heart_rate", "event_count"]
ALERT_COLUMNS = ["user_id", "date", "goal", "steps_at_alert", "crossed_at"]  # alerted_at is processing time
SILVER_COLUMNS = ["event_id", "user_id", "event_time", "steps", "heart_rate", "calories", "activity_type"]
