"""Hostile live events (issue #17): non-finite numbers, extreme and far-future event times, deeply nested JSON.

Each lands in quarantine with its rule; none reaches silver, the windows or the watermark; later windows are still
written and late events are counted."""

from __future__ import annotations

import datetime as dt

from streaming_helpers import U1, U2, event, read_table, run_available_now, write_events


def _at(iso: str, **fields) -> dict:
    return {**event("x", U1, "08:00:00", 1), "event_time": iso, **fields}


def test_hostile_events_are_quarantined_and_never_move_the_watermark(spark, settings):
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
    first = run_available_now(spark, settings)
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
