"""Gold's own small reads (its state, a table's "has rows", the completeness summary) use the independent Delta
reader, which cannot open a path holding a backslash (it reads one as a separator): there they fall back to Spark."""

from __future__ import annotations

from fitlake import delta_io
from fitlake.config import Settings
from fitlake.gold.job import pending_bytes, read_state, write_state


def test_gold_state_round_trips_under_a_root_with_a_backslash(spark, tmp_path):
    hostile = Settings(root=tmp_path / "back\\slash ü" / "lake")
    plain = Settings(root=tmp_path / "plain" / "lake")
    assert not delta_io.rs_readable(hostile.table("ops", "gold_state"))
    assert delta_io.rs_readable(plain.table("ops", "gold_state"))
    for settings in (hostile, plain):
        assert read_state(spark, settings) == {}
        write_state(spark, settings, {"silver.daily_activity": 3, "silver.sleep_day": 0})
        assert read_state(spark, settings) == {"silver.daily_activity": 3, "silver.sleep_day": 0}
    # without Spark (the no-op check, sizing a run) the hostile root's state reads as "nothing read yet": no crash
    assert read_state(None, hostile) == {}
    assert read_state(None, plain) == {"silver.daily_activity": 3, "silver.sleep_day": 0}
    assert pending_bytes(hostile) == 0  # no silver yet
    # a plainly named link to the hostile root: delta-rs resolves it and fails the same way, so Spark reads it too
    (tmp_path / "link").symlink_to(tmp_path / "back\\slash ü")
    linked = Settings(root=tmp_path / "link" / "lake")
    assert not delta_io.rs_readable(linked.table("ops", "gold_state"))
    assert read_state(spark, linked) == {"silver.daily_activity": 3, "silver.sleep_day": 0}
