"""The stream's own state beside Spark's checkpoint: per batch a pinned plan, and the event-time high mark.

Everything a micro-batch decides must come out the same when Spark replays it after a crash (the batch ran, some
writes committed, the checkpoint commit did not): so the processing time (``now``: bronze's ``_ingested_at``, the
event-time ceiling, ``alerted_at``) and the watermark in force are fixed in ``plans/<batch id>.json`` before the
first write and reused by a replay. ``state.json`` holds the highest valid event time seen up to the last finished
batch; the watermark of the next batch is that minus the delay (Spark's rule: max event time of earlier batches
minus the delay). Files are replaced atomically (temp file + rename), so a kill -9 leaves the old or the new one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

TS_PY = "%Y-%m-%d %H:%M:%S.%f"  # == job.TS_FORMAT (Spark's yyyy-MM-dd HH:mm:ss.SSSSSS), UTC


@dataclass(frozen=True)
class BatchPlan:
    batch_id: int
    now: str  # processing time of the batch, TS_PY, UTC
    watermark: str | None  # events whose window ends at or before this are late (TS_PY, UTC); None: no events yet
    replay: bool = False  # the plan was already there: an earlier attempt of this batch may have committed writes


def _write_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


class StreamState:
    def __init__(self, checkpoint_dir: str | os.PathLike, delay: dt.timedelta):
        self.dir = Path(checkpoint_dir) / "_fitlake"
        self.plans = self.dir / "plans"
        self.plans.mkdir(parents=True, exist_ok=True)
        self.state_file = self.dir / "state.json"
        self.delay = delay

    def max_event_time(self) -> str | None:
        state = _read(self.state_file)
        return state.get("max_event_time") if state else None

    def watermark(self) -> str | None:
        high = self.max_event_time()
        if high is None:
            return None
        return (dt.datetime.strptime(high, TS_PY) - self.delay).strftime(TS_PY)

    def plan(self, batch_id: int) -> BatchPlan:
        """The batch's plan: made on its first attempt, read back on every replay (``BatchPlan.replay``)."""
        path = self.plans / f"{batch_id}.json"
        saved = _read(path)
        replay = saved is not None
        if saved is None:
            saved = {"batch_id": batch_id, "now": dt.datetime.now(dt.timezone.utc).strftime(TS_PY),
                     "watermark": self.watermark()}
            _write_atomic(path, saved)
        return BatchPlan(saved["batch_id"], saved["now"], saved["watermark"], replay)

    def finish(self, batch_id: int, batch_max: str | None) -> None:
        """Record a finished batch's highest valid event time (idempotent: a replayed batch does it once)."""
        state = _read(self.state_file) or {"batch_id": -1, "max_event_time": None}
        if state["batch_id"] >= batch_id:
            return
        high = max(filter(None, (state["max_event_time"], batch_max)), default=None)
        _write_atomic(self.state_file, {"batch_id": batch_id, "max_event_time": high})
        for old in self.plans.glob("*.json"):  # keep the last two plans, drop the rest
            if old.stem.isdigit() and int(old.stem) < batch_id - 1:
                old.unlink(missing_ok=True)
