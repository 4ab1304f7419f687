"""The live event generator's seeded output: the bytes it writes are fixed by its arguments (benchmarks and replays
compare runs of it), and each line is exactly what ``json.dumps`` makes of the event."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

from fitlake.generate.events import generate_events

ARGS = dict(rate=300, duration=3, seed=11, late_fraction=0.3, late_seconds=90, users=50, duplicate_fraction=0.05)
# sha256 over (file name, bytes) of every file for ARGS, as the per-event dict + json.dumps writer wrote them
DIGEST = "2f67d62d808f56c7ba645f8c1be7bdff44471e550e1be09b4a12368b1432f997"


def test_seeded_output_is_pinned(tmp_path):
    s = generate_events(tmp_path, **ARGS)
    digest = hashlib.sha256()
    for p in sorted(Path(s["folder"]).iterdir()):
        digest.update(p.name.encode())
        digest.update(p.read_bytes())
    assert digest.hexdigest() == DIGEST
    assert (s["events"], s["late"], s["beyond_watermark"], s["duplicates"]) == (913, 247, 87, 54)


def test_lines_are_compact_json_with_uuid4_ids(tmp_path):
    s = generate_events(tmp_path, rate=2_000, duration=2, seed=5, late_fraction=0.5, late_seconds=120)
    lines = [line for p in sorted(Path(s["folder"]).iterdir()) for line in p.read_text().splitlines()]
    assert len(lines) == s["events"] > 3_000
    for line in lines:
        event = json.loads(line)
        assert json.dumps(event, separators=(",", ":")) == line
        assert str(uuid.UUID(event["event_id"], version=4)) == event["event_id"]
        assert isinstance(event["calories"], float) and isinstance(event["steps"], int)
