"""Hostile live events (issue #17): non-finite numbers, extreme and far-future event times, deeply nested JSON.

Each lands in quarantine with its rule; none reaches silver, the windows or the watermark; later windows are still
written and late events are counted. In the same runs, hostile landing entries in landing/events (a symlink out of
the landing, a dangling one, a FIFO, an unreadable file) are reported by `fitlake stream` and never read."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import io
import json
import os
import signal
from pathlib import Path

from fitlake.streaming.cli import format_summary
from streaming_helpers import U1, U2, event, read_table, run_available_now, write_events


def _at(iso: str, **fields) -> dict:
    return {**event("x", U1, "08:00:00", 1), "event_time": iso, **fields}


# ---- Hostile landing entries in landing/events (issue #17): the stream reads only what fitlake's own listing
# accepts (bronze/local_stream.LandingStager over landing_scan), never what Spark's file listing would find.

SECRET_USER = 9199900001
SECRET = "root:x:0:0:root:/root:/bin/bash"
RUN_TIMEOUT_S = 600  # a FIFO opened for reading blocks forever: the guard turns a hang into a failure


@contextlib.contextmanager
def _deadline(seconds: int):
    def expired(signum, frame):
        raise TimeoutError(f"`fitlake stream --available-now` still running after {seconds} s (blocked?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _unreadable_for_everyone(monkeypatch, locked: Path) -> None:
    """Tests run as root, whom mode 000 does not stop: answer EACCES for ``locked`` as the OS does for anyone else."""
    real_open = os.open

    def open_(path, flags, mode=0o777, *, dir_fd=None):
        if not isinstance(path, int) and os.path.abspath(os.fsdecode(path)) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "open", open_)


def _stream_cli(settings, *extra: str) -> tuple[int | None, str]:
    """`fitlake stream --available-now` as a person runs it (in this process, reusing the session's Spark)."""
    from fitlake import cli

    out = io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), _deadline(RUN_TIMEOUT_S):
            code = cli.main(["stream", "--available-now", "--root", str(settings.root),
                             "--landing", str(settings.landing_dir), *extra])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return code, out.getvalue()



def _hostile_entries(settings, tmp_path, monkeypatch) -> dict[str, tuple[str, str]]:
    """A symlink to a readable file outside the landing (shaped so that, read, it WOULD land), a dangling symlink, a
    FIFO named like an events file and an unreadable file, in landing/events: path -> (reason, what the person reads)."""
    events = settings.landing_dir / "events"
    events.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside the landing"
    outside.mkdir()
    secret = outside / "passwd.json"
    secret.write_text(json.dumps({**event("leak", SECRET_USER, "08:00:06", 7), "activity_type": SECRET}) + "\n")
    (events / "passwd.json").symlink_to(secret)
    (events / "gone.json").symlink_to(outside / "no-such-file.json")
    os.mkfifo(events / "pipe.json")
    locked = write_events(settings.landing_dir, "locked.json", [event("locked", U2, "08:00:07", 3)])
    os.chmod(locked, 0)
    _unreadable_for_everyone(monkeypatch, locked)
    return {
        "events/passwd.json": ("symlink_outside", f"a symbolic link to {secret}, outside the landing folder: never "
                                                  "read"),
        "events/gone.json": ("dangling_symlink", "which does not exist: nothing to read"),
        "events/pipe.json": ("special_file", "a named pipe (FIFO), not a regular file: never opened"),
        "events/locked.json": ("unreadable", "cannot be read (Permission denied): skipped, the other files were "
                                             "read. Fix its permissions"),
    }


def test_hostile_events_are_quarantined_and_never_move_the_watermark(spark, settings, tmp_path, monkeypatch):
    """Also: hostile landing entries in landing/events (issue #17) are reported by `fitlake stream`, never read (the
    stream reads only what fitlake's own listing accepts, bronze/local_stream.LandingStager), and block nothing:
    the later good files are read."""
    hostile = _hostile_entries(settings, tmp_path, monkeypatch)
    far_future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    nested = "[" * 100_000 + "]" * 100_000  # Python's json would hit its recursion limit; JSON text, not an object
    nested_object = '{"event_id": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"
    write_events(settings.landing_dir, "part-00000.json", [
        nested,  # first line of the first file: the schema sampler reads it
        nested_object,
        event("ok1", U1, "08:00:05", 10),
        '{"event_id":"nan","user_id":%d,"event_time":"2023-04-01T08:00:06Z","steps":1,"calories":NaN}' % U1,
        '{"event_id":"inf","user_id":%d,"event_time":"2023-04-01T08:00:07Z","steps":1,"calories":Infinity}' % U1,
        {**event("nan2", U1, "08:00:06", 1), "calories": "NaN"},  # as text: typed, it would be a NaN reading
        {**event("inf2", U1, "08:00:07", 1), "calories": "-Infinity"},
        {**_at("0001-01-01T00:00:00Z"), "event_id": "y0001"},
        {**_at("1000-01-01T00:00:00Z"), "event_id": "y1000"},
        {**_at("9999-12-31T23:59:59Z"), "event_id": "y9999"},
        {**_at(far_future), "event_id": "future"},  # would move the watermark a day ahead
    ])
    code, text = _stream_cli(settings, "--json")  # the command a person runs, with its summary as JSON
    assert code == 0 and "Traceback" not in text and "An error occurred while calling" not in text, text
    first = json.loads(text.strip().splitlines()[-1])
    assert {s["path"]: s["reason"] for s in first["landing_skipped"]} == {p: r for p, (r, _) in hostile.items()}
    said = format_summary(first)  # what `fitlake stream` prints without --json
    assert "landing entries not read (4; the other files were read; fix these, rerun):" in said, said
    for path, (_, message) in hostile.items():
        lines = [line for line in said.splitlines() if line.startswith(f"  {path}: ")]
        assert len(lines) == 1 and message in lines[0], (path, said)
    write_events(settings.landing_dir, "part-00001.json", [
        event("ok2", U1, "08:02:00", 20),  # watermark 08:00:05 - 1 min still: on time, a new window
        event("ok3", U2, "08:00:40", 30, activity_type="running"),  # on time
    ])
    second = run_available_now(spark, settings)
    write_events(settings.landing_dir, "part-00002.json", [
        event("late", U1, "08:00:10", 5),  # watermark 08:01:00: its window ended 08:00:30 -> dropped, counted
        event("ok4", U1, "08:02:10", 1),
    ])
    third = run_available_now(spark, settings)

    # Nested deeper than the JSON parser allows and bare NaN / Infinity (not JSON) are not records: malformed_json.
    assert first["quarantined_by_rule"] == {
        "malformed_json": 4, "calories_not_finite": 2, "event_time_before_2000": 2, "event_time_in_future": 2}
    assert first["events_in"] == 11 and first["rows_added"]["silver.events"] == 1
    assert first["watermark"] == "2023-04-01T07:59:05.000Z"  # from ok1 only
    assert second["watermark"] == "2023-04-01T08:01:00.000Z"
    assert [s["rows_dropped_by_watermark"] for s in (first, second, third)] == [0, 0, 1]

    silver = {r["event_id"] for r in read_table(spark, settings, "silver", "events").collect()}
    assert silver == {"ok1", "ok2", "ok3", "ok4", "late"}  # late for the windows, still a real step count
    windows = {(r["user_id"], str(r["window_start"]), r["steps"], r["calories"])
               for r in read_table(spark, settings, "gold", "event_windows").collect()}
    assert windows == {(U1, "2023-04-01 08:00:00", 10, 1.0), (U2, "2023-04-01 08:00:30", 30, 1.0),
                       (U1, "2023-04-01 08:02:00", 21, 2.0)}
    quarantine = read_table(spark, settings, "quarantine", "events")
    assert quarantine.count() == 11 - 1
    assert read_table(spark, settings, "bronze", "events").count() == 11 + 2 + 2
    assert {s["path"] for s in third["landing_skipped"]} == set(hostile)  # still reported, never blocking
    for layer in ("bronze", "quarantine", "silver"):  # nothing outside the landing, nothing unreadable was read
        rows = read_table(spark, settings, layer, "events").toJSON().collect()
        assert not any(SECRET in r or '"leak"' in r or '"locked"' in r for r in rows), layer
    assert read_table(spark, settings, "gold", "event_windows").where(f"user_id = {SECRET_USER}").count() == 0
    lineage = {r["event_id"]: r["_source_file"] for r in read_table(spark, settings, "silver", "events").collect()}
    assert lineage["ok4"].endswith("/events/part-00002.json") and "_fitlake_landing" not in lineage["ok4"]
