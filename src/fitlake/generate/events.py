"""Live device events for the streaming job: one small JSON-lines file per second of simulated time in
``<out>/events/``, written atomically (``.tmp-`` name, then ``os.replace``), so a file stream never reads half a file.

Each file holds about ``rate`` events whose ``event_time`` lies within that second, except a ``late_fraction`` share
that is late: up to ``late_seconds`` older than the file's clock (with the default 90 s, a third of them fall
beyond a 60 s watermark). A ``duplicate_fraction`` share re-sends an event already written (same ``event_id`` and
payload), as a device retrying after a lost acknowledgement would. File ``k`` depends only on ``(seed, k)``, so a
rerun rewrites identical bytes and an interrupted run can simply be restarted (existing files are kept).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import numpy as np

from fitlake.generate.personas import ACTIVITY_TYPES, CADENCE, draw_users

EVENTS_DIR = "events"
_ACTIVE = np.array([0.55, 0.15, 0.08, 0.04, 0.06, 0.08, 0.04])  # activity mix of the live stream


def _parse_start(start: str | dt.datetime) -> dt.datetime:
    if isinstance(start, dt.datetime):
        return start.astimezone(dt.timezone.utc) if start.tzinfo else start.replace(tzinfo=dt.timezone.utc)
    return _parse_start(dt.datetime.fromisoformat(start.replace("Z", "+00:00")))


def iso_millis(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def event_file_name(clock: dt.datetime, k: int) -> str:
    return f"events-{clock.strftime('%Y%m%dT%H%M%S')}-{k:06d}.json"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_US = dt.timedelta(microseconds=1)
_LINE = ('{{"event_id":"{}","user_id":{},"event_time":"{}Z","steps":{},"heart_rate":{},"calories":{!r},'
         '"activity_type":"{}"}}\n')  # json.dumps(event, separators=(",", ":")) of the event dict, plus newline


def _uuid4_strings(raw: bytes, n: int) -> list[str]:
    """``str(uuid.UUID(bytes=raw[16 * j:16 * j + 16], version=4))`` for each j, the version and variant bits set on
    the whole array at once."""
    b = np.frombuffer(raw, np.uint8).reshape(n, 16).copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    h = b.tobytes().hex()
    return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
            for i in range(0, 32 * n, 32)]


def _events_for_second(
    seed: int, k: int, clock: dt.datetime, rate: int, user_ids: np.ndarray, rest_hr: np.ndarray,
    late_fraction: float, late_seconds: float, duplicate_fraction: float,
) -> tuple[list[str], int, int, int]:
    """The second's events as JSON lines (each ends with a newline), how many are late, how many lie more than 60 s
    before ``clock``, and how many re-sends the file carries. Every field is drawn and formatted for the whole
    second at once (numpy), not per event: at 20,000 events/s the generator shares the machine with the stream."""
    rng = np.random.default_rng([seed, 3, k])
    n = int(rng.poisson(rate)) if rate > 0 else 0
    who = rng.integers(0, len(user_ids), n)
    act = rng.choice(len(ACTIVITY_TYPES), size=n, p=_ACTIVE)
    # Correlated payload: cadence drives steps, steps drive heart rate and calories (per ~5 s of activity).
    steps = rng.poisson(CADENCE[act] / 12 + 1)
    hr = np.clip(np.round(rest_hr[who] + 10 + steps * 3.5 + rng.normal(0, 5, n)), 40, 210).astype(int)
    calories = np.round(0.1 + steps * 0.04 + (hr - 60).clip(0) * 0.01, 2)
    offset_ms = rng.integers(0, 1000, n)
    late = rng.random(n) < late_fraction
    late_by_ms = rng.integers(1000, int(late_seconds * 1000) + 1, n) if late_seconds >= 1 else np.zeros(n, int)
    offset_ms = np.where(late, offset_ms - late_by_ms, offset_ms)
    ids = _uuid4_strings(rng.bytes(16 * n), n)  # the same bytes as n draws of rng.bytes(16)
    # event_time = clock + offset, to the millisecond (iso_millis drops the microseconds)
    clock_us = (clock - _EPOCH) // _US
    ms = (clock_us + offset_ms.astype(np.int64) * 1000) // 1000
    times = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms").tolist()
    beyond = int(np.count_nonzero(clock_us - ms * 1000 > 60_000_000))
    names = np.array(ACTIVITY_TYPES)[act].tolist()
    lines = [_LINE.format(*e) for e in zip(ids, user_ids[who].tolist(), times, steps.tolist(), hr.tolist(),
                                           calories.tolist(), names)]
    # How many re-sends this file carries; the caller picks them from recently written events.
    resend = int(rng.binomial(n, duplicate_fraction)) if n else 0
    return lines, int(late.sum()), beyond, resend


def generate_events(
    out_dir: str | os.PathLike,
    rate: int = 50,
    duration: int = 60,
    seed: int = 42,
    late_fraction: float = 0.1,
    late_seconds: float = 90.0,
    users: int = 200,
    start: str | dt.datetime = "2023-04-01T08:00:00Z",
    duplicate_fraction: float = 0.01,
    realtime: bool = False,
    landing_seed: int | None = None,
) -> dict:
    """Write ``duration`` files of about ``rate`` events; return counts (events, late, beyond the 60 s watermark,
    duplicates, files). Users are the first ``users`` of the landing generator's users for ``landing_seed``
    (default ``seed``), so live events join activity records of the same user ids."""
    if rate < 0 or duration < 0 or not 0 <= late_fraction <= 1 or not 0 <= duplicate_fraction <= 1:
        raise ValueError("rate and duration must be >= 0, fractions within [0, 1]")
    folder = Path(out_dir) / EVENTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    pop = draw_users(landing_seed if landing_seed is not None else seed, max(users, 1))
    user_ids, rest_hr = pop.user_id, pop.resting_hr
    t0 = _parse_start(start)
    wall0 = time.monotonic()
    written: list[str] = []  # recent events (their lines), the pool re-sends are drawn from
    totals = {"files": 0, "files_skipped": 0, "events": 0, "late": 0, "beyond_watermark": 0, "duplicates": 0}
    for k in range(duration):
        clock = t0 + dt.timedelta(seconds=k)
        events, late, beyond, resend = _events_for_second(seed, k, clock, rate, user_ids, rest_hr, late_fraction,
                                                          late_seconds, duplicate_fraction)
        pick = np.random.default_rng([seed, 4, k])
        pool = written + events
        dups = [pool[i] for i in pick.integers(0, len(pool), resend).tolist()] if pool and resend else []
        body = events + dups
        written = (written + events)[-10 * max(rate, 1):]
        totals["events"] += len(body)
        totals["late"] += late
        totals["beyond_watermark"] += beyond
        totals["duplicates"] += len(dups)
        path = folder / event_file_name(clock, k)
        if realtime:
            time.sleep(max(0.0, wall0 + k + 1 - time.monotonic()))
        if path.exists():  # restart: file k is already there with these exact bytes
            totals["files_skipped"] += 1
            continue
        tmp = folder / f".tmp-{path.name}"
        tmp.write_text("".join(body), encoding="utf-8")
        os.replace(tmp, path)
        totals["files"] += 1
    return {"folder": str(folder), "seed": seed, "rate": rate, "duration": duration, "start": iso_millis(t0),
            "late_fraction": late_fraction, "late_seconds": late_seconds, **totals}
