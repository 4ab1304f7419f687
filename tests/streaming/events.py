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


def write_events(landing: Path, name: str, records: list) -> Path:
    """One events file; ``records`` are dicts (written as JSON) or raw strings (written as they are)."""
    folder = landing / "events"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    tmp = folder / f".{name}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    final = folder / name
    os.replace(tmp, final)
    return final
