"""The streaming job end to end on files: exact windows with late and duplicate events, replays change nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from chispa import assert_df_equality

from fitlake.streaming.job import checkpoint

from streaming_helpers import (
    ALERT_COLUMNS,
    U1,
    U2,
    WINDOW_COLUMNS,
    event,
    read_table,
    run_available_now,
    write_events,
)

WINDOW_SCHEMA = ("user_id bigint, activity_type string, window_start timestamp, window_end timestamp, steps bigint, "
                 "calories double, avg_heart_rate double, max_heart_rate int, event_count bigint")
ALERT_SCHEMA = "user_id bigint, date date, goal int, steps_at_alert bigint, crossed_at timestamp"

# Three deliveries, one run each (the job restarts between them). Watermark = max event time seen so far - 1 minute;
# a window is final once it ends at or before the watermark, and an event for a final window is dropped (and
# counted). Gold holds every window as of the last batch, open ones included: nothing waits in Spark's state for a
# later batch that a restart might never run.
BATCHES = [
    [  # max 08:00:35 -> watermark 07:59:35
        event("a1", U1, "08:00:05", 100, 90),
        event("a2", U1, "08:00:20", 50, 100),
        event("z1", U1, "08:00:25", 0, None, None),  # zero steps, no heart rate, no calories: valid
        event("a3", U1, "08:00:35", 30, 80),
        event("b1", U2, "08:00:10", 200, 150, activity_type="running"),
        "not json",  # -> quarantine: malformed_json
        event("bad", U1, "08:00:06", -5),  # -> quarantine: steps_not_non_negative_int
    ],
    [  # max 08:02:10 -> watermark 08:01:10: [08:00:00, 08:00:30) and [08:00:30, 08:01:00) are final
        event("a4", U1, "08:02:00", 10),
        event("a5", U1, "08:00:40", 20, 0),  # late but within the watermark: counted; heart rate 0 = no reading
        event("a1", U1, "08:00:05", 100, 90),  # duplicate delivery of a1
        event("b2", U2, "08:02:10", 150, 140, activity_type="running"),  # U2 reaches 350 >= 300: alert
    ],
    [  # max 08:03:30 -> watermark 08:02:30: [08:02:00, 08:02:30) is final
        event("late", U1, "08:00:15", 1000),  # its window closed at 08:00:30 < 08:01:10: dropped by the watermark
        event("b3", U2, "08:03:00", 500, 160, activity_type="running"),  # U2 already alerted today
        event("a6", U1, "08:03:30", 5),
    ],
]


def t(hms: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2023-04-01 {hms}")


EXPECTED_WINDOWS = [
    (U1, "walking", t("08:00:00"), t("08:00:30"), 150, 2.0, 95.0, 100, 3),  # a1 + a2 + z1 (late one dropped)
    (U2, "running", t("08:00:00"), t("08:00:30"), 200, 1.0, 150.0, 150, 1),
    (U1, "walking", t("08:00:30"), t("08:01:00"), 50, 2.0, 80.0, 80, 2),  # a3 + late-but-in-time a5
    (U1, "walking", t("08:02:00"), t("08:02:30"), 10, 1.0, 90.0, 90, 1),
    (U2, "running", t("08:02:00"), t("08:02:30"), 150, 1.0, 140.0, 140, 1),
    (U2, "running", t("08:03:00"), t("08:03:30"), 500, 1.0, 160.0, 160, 1),  # still open: watermark 08:02:30
    (U1, "walking", t("08:03:30"), t("08:04:00"), 5, 1.0, 90.0, 90, 1),  # still open
]
# U1 in event-time order: 100 (08:00:05), then the late 1000 (08:00:15) crosses 300. Late for the windows,
# but a real step count: alerts and silver keep it.
EXPECTED_ALERTS = [(U1, dt.date(2023, 4, 1), 300, 1100, t("08:00:15")), (U2, dt.date(2023, 4, 1), 300, 350, t("08:02:10"))]


def test_windows_count_late_events_within_the_watermark_and_drop_later_ones(spark, settings):
    settings = settings.with_overrides(step_goal=300)
    summaries = []
    # The suite's session is interpreted (conftest); the stream must be so on its own, like a session of `fitlake
    # stream`: compiled here, and back to compiled after the runs.
    compiled_conf = {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"}
    suite_conf = {k: spark.conf.get(k) for k in compiled_conf}
    codegen = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()
    kept = _kept_rdds(spark)
    try:
        for k, v in compiled_conf.items():
            spark.conf.set(k, v)
        compiled = codegen.getCount()
        for i, batch in enumerate(BATCHES):
            write_events(settings.landing_dir, f"part-{i:05d}.json", batch)
            summaries.append(run_available_now(spark, settings))
        compiled = codegen.getCount() - compiled
        assert {k: spark.conf.get(k) for k in compiled_conf} == compiled_conf
    finally:
        for k, v in suite_conf.items():
            spark.conf.set(k, v)
    # The stream runs interpreted (job.STREAM_CONF): a batch's constants are inlined into generated code, so compiling
    # it was paid again by every batch (116-160 classes per batch in benchmarks/stream_profile.py). What is left is
    # compiled once per JVM whatever the mode (e.g. the cache's column accessors).
    assert compiled <= 30, compiled
    # What a batch keeps in memory (its input, its new events) it drops when it ends: a live stream runs for days.
    assert _kept_rdds(spark) <= kept

    windows = read_table(spark, settings, "gold", "event_windows").select(*WINDOW_COLUMNS)
    assert_df_equality(windows, spark.createDataFrame(EXPECTED_WINDOWS, WINDOW_SCHEMA),
                       ignore_row_order=True, ignore_nullable=True)
    alerts = read_table(spark, settings, "gold", "goal_alerts").select(*ALERT_COLUMNS)
    assert_df_equality(alerts, spark.createDataFrame(EXPECTED_ALERTS, ALERT_SCHEMA),
                       ignore_row_order=True, ignore_nullable=True)

    assert [s["events_in"] for s in summaries] == [7, 4, 3]
    assert [s["rows_dropped_by_watermark"] for s in summaries] == [0, 0, 1]
    # Run 1 writes its 3 windows at once; run 2 adds 2 and updates a3's window with a5; run 3 adds 2.
    assert [s["rows_added"]["gold.event_windows"] for s in summaries] == [3, 2, 2]
    assert [s["rows_added"]["silver.events"] for s in summaries] == [5, 3, 3]  # the a1 re-delivery is not inserted
    assert [s["rows_added"]["gold.goal_alerts"] for s in summaries] == [0, 1, 1]
    assert summaries[0]["quarantined_by_rule"] == {"malformed_json": 1, "steps_not_non_negative_int": 1}
    assert summaries[2]["watermark"] == "2023-04-01T08:02:30.000Z"
    # Spark jobs per batch (a count, not a time): 44-45 on a batch without quarantine or alerts before the MERGEs
    # read their sources as they are and without AQE (benchmarks/results/README.md), 26 before the new events were
    # detached and the goal checks read by delta-rs (benchmarks/results/stream-profile-2026-11-30-s16-*.json), 18
    # since; here 19 for the first batch, 24 for those with quarantine or alerts.
    jobs = [n for s in summaries for n in s["spark_jobs_per_batch"].values()]
    assert len(jobs) == 3 and max(jobs) <= 28, jobs
    daily = read_table(spark, settings, "gold", "event_daily_steps").select("user_id", "date", "steps", "event_count")
    assert sorted(map(tuple, daily.collect())) == [(U1, dt.date(2023, 4, 1), 1215, 8), (U2, dt.date(2023, 4, 1), 850, 3)]

    silver = read_table(spark, settings, "silver", "events")
    assert silver.count() == 11 and silver.select("event_id").distinct().count() == 11
    assert silver.where("event_id = 'a5'").first()["heart_rate"] is None
    quarantine = {(r["_rule"], r["_corrupt_record"], r["event_id"])
                  for r in read_table(spark, settings, "quarantine", "events").collect()}
    assert quarantine == {("malformed_json", "not json", None), ("steps_not_non_negative_int", None, "bad")}
    assert read_table(spark, settings, "bronze", "events").count() == 14  # raw: everything, duplicates included

    # Crash after a batch's writes but before its checkpoint commit, in every query: the replay changes nothing.
    before = _snapshot(spark, settings)
    replayed = _drop_last_commit(checkpoint(settings, "files"))
    again = run_available_now(spark, settings)
    assert replayed == 2 and again["queries"]["ingest"]["batches"] == 1  # batch 2 ran again ...
    assert _snapshot(spark, settings) == before  # ... and every table is exactly as it was
    # bronze, quarantine and silver append plainly (a replay finds its own rows; Delta's txn check would build
    # the table's whole state on every append): no commit carries a txn mark
    for layer in ("bronze", "quarantine", "silver"):
        log = Path(settings.table(layer, "events").path, "_delta_log")
        assert not any('"txn"' in f.read_text() for f in log.glob("*.json")), layer


def _kept_rdds(spark) -> set[int]:
    """Ids of the RDDs held in memory, but for Delta's cached table states (a table's latest one stays cached)."""
    return {int(i) for i, rdd in spark.sparkContext._jsc.getPersistentRDDs().items()
            if "Delta Table State" not in (rdd.name() or "")}


def _drop_last_commit(checkpoint_dir: str) -> int:
    """Simulate a crash after a batch's writes but before its checkpoint commit: Spark replays that batch."""
    commits = sorted(Path(checkpoint_dir, "commits").glob("[0-9]*"), key=lambda p: int(p.name))
    commits[-1].unlink()
    Path(checkpoint_dir, "commits", f".{commits[-1].name}.crc").unlink(missing_ok=True)
    return int(commits[-1].name)


def _snapshot(spark, settings) -> dict:
    return {(layer, name): sorted(map(tuple, read_table(spark, settings, layer, name).select(*cols).collect()), key=repr)
            for layer, name, cols in [
                ("bronze", "events", ["event_id", "_source_file", "_line", "_batch_id"]),
                ("quarantine", "events", ["_rule", "_source_file", "_line"]),
                ("silver", "events", ["event_id", "_source_file", "_ingested_at"]),
                ("gold", "event_windows", WINDOW_COLUMNS),
                ("gold", "goal_alerts", ALERT_COLUMNS + ["alerted_at"]),
                ("gold", "event_daily_steps", ["user_id", "date", "steps", "event_count"]),
            ]}
