"""Live events, the committed fixtures, the two commands and the distribution comparison."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from fitlake.cli import main as fitlake
from fitlake.generate import generate_events, generate_landing
from fitlake.generate.landing import KINDS, MANIFEST
from fitlake.generate.reference import expected_counts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _parse(t: str) -> dt.datetime:
    return dt.datetime.fromisoformat(t.replace("Z", "+00:00"))


def test_events_late_duplicates_atomic_and_deterministic(tmp_path):
    args = dict(rate=40, duration=8, seed=9, late_fraction=0.2, late_seconds=90, users=30, duplicate_fraction=0.05)
    s = generate_events(tmp_path / "a", **args)
    folder = Path(s["folder"])
    files = sorted(folder.iterdir())
    assert len(files) == 8 and not [p for p in files if p.name.startswith(".")]
    events = [json.loads(line) for p in files for line in p.read_text().splitlines()]
    assert len(events) == s["events"] and 200 < s["events"] < 450
    assert set(events[0]) == {"event_id", "user_id", "event_time", "steps", "heart_rate", "calories", "activity_type"}
    assert events[0]["event_time"].endswith("Z") and len(str(events[0]["user_id"])) == 10
    # Late: event time well before the file's clock (the second it represents); some beyond a 60 s watermark.
    start = _parse(s["start"])
    lateness = []
    for k, p in enumerate(files):
        clock = start + dt.timedelta(seconds=k)
        times = [_parse(json.loads(line)["event_time"]) for line in p.read_text().splitlines()]
        lateness += [(clock - t).total_seconds() for t in times]
    assert sum(x > 0 for x in lateness) >= s["late"] > 0 and sum(x > 60 for x in lateness) >= s["beyond_watermark"] > 0
    ids = Counter(e["event_id"] for e in events)
    assert sum(c - 1 for c in ids.values()) == s["duplicates"] > 0
    # Same seed, same bytes; an existing file is kept on restart.
    again = generate_events(tmp_path / "b", **args)
    assert _digests(Path(again["folder"])) == _digests(folder)
    files[-1].unlink()
    rerun = generate_events(tmp_path / "a", **args)
    assert (rerun["files"], rerun["files_skipped"]) == (1, 7)
    assert _digests(folder) == _digests(Path(again["folder"]))


def test_events_zero_rate_and_bad_arguments(tmp_path):
    s = generate_events(tmp_path, rate=0, duration=2)
    assert (s["files"], s["events"]) == (2, 0)
    with pytest.raises(ValueError):
        generate_events(tmp_path, rate=5, duration=1, late_fraction=1.5)


def test_fixtures_are_current_and_cover_every_defect_in_both_formats(tmp_path):
    import sys

    sys.path.insert(0, str(FIXTURES))
    try:
        import make_fixtures
    finally:
        sys.path.remove(str(FIXTURES))
    landing = FIXTURES / "landing"
    manifest = json.loads((landing / MANIFEST).read_text())
    fresh = generate_landing(tmp_path / "landing", progress=False, workers=1, **make_fixtures.LANDING)
    for p in sorted(landing.rglob("*")):
        if p.is_file():
            assert p.read_bytes() == (tmp_path / "landing" / p.relative_to(landing)).read_bytes(), p
    assert fresh["defects"] == manifest["defects"]
    for source in ("activity", "daily_activity"):
        assert {e["kind"] for e in manifest["defects"] if e["source"] == source} == set(KINDS), source
    counts = expected_counts(landing, today=make_fixtures.TODAY)
    assert counts == json.loads((FIXTURES / "expected" / "landing_counts.json").read_text())
    for source, want in manifest["expected"].items():
        assert (counts[source]["silver_rows"], counts[source]["quarantine_rows"]) == (
            want["silver_rows"], want["quarantine_rows"])
    events = [json.loads(line) for p in sorted((FIXTURES / "events").iterdir()) for line in p.read_text().splitlines()]
    summary = json.loads((FIXTURES / "expected" / "events_summary.json").read_text())
    assert len(events) == summary["events"] and summary["late"] > 0 and summary["duplicates"] > 0
    assert len([p for p in FIXTURES.rglob("*") if p.is_file() and "bad" not in p.relative_to(FIXTURES).parts]) < 60


def test_generate_commands(tmp_path, capsys):
    assert fitlake(["generate", "--out", str(tmp_path / "l"), "--users", "3", "--days", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "3 users x 2 days" in out and "hourly_steps" in out and "total" in out
    assert (tmp_path / "l" / MANIFEST).is_file()
    assert fitlake(["generate", "--out", str(tmp_path / "x"), "--days", "0", "--quiet"]) == 2
    assert "days must be >= 1" in capsys.readouterr().err
    assert fitlake(["generate-events", "--out", str(tmp_path / "l"), "--rate", "5/s", "--duration", "2",
                    "--no-realtime"]) == 0
    assert "wrote 2 files" in capsys.readouterr().out
    assert len(list((tmp_path / "l" / "events").iterdir())) == 2


def test_compare_with_the_real_export(kaggle_dir, tmp_path):
    from fitlake.generate.compare import compare, to_markdown

    out = tmp_path / "cmp"
    generate_landing(out, users=120, days=14, seed=1, defect_rate=0.0, progress=False)
    table = compare(kaggle_dir, out).set_index(["metric", "data"])
    real_steps = table.loc[("daily steps", "real")]
    assert real_steps["n"] == 940 and round(real_steps["median"]) == 7406
    # Medians within 25 % of the real export's for steps, calories and minutes asleep.
    for metric in ("daily steps", "daily calories", "minutes asleep"):
        real, synth = table.loc[(metric, "real"), "median"], table.loc[(metric, "synthetic"), "median"]
        assert abs(synth - real) / real < 0.25, (metric, real, synth)
    assert to_markdown(compare(kaggle_dir, out)).count("\n") == 7
