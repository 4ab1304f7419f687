"""`fitlake bench --profile` reads Spark's (rolled, zstd) event log and gives every job and commit to its table."""

from __future__ import annotations

import json
import time

import pyarrow as pa

from benchmarks.profile_run import attribute, delta_commits, read_event_log

T0 = 1_800_000_000.0


def _write_rolled_log(folder, events: list[dict]) -> None:
    app = folder / "eventlog_v2_local-1"
    app.mkdir(parents=True)
    half = len(events) // 2
    for n, part in ((1, events[:half]), (2, events[half:])):  # two rolled files, read in their numeric order
        with pa.CompressedOutputStream(pa.OSFile(str(app / f"events_{n}_local-1.zstd"), "wb"), "zstd") as out:
            out.write("".join(json.dumps(e) + "\n" for e in part).encode())


def _job(job_id: int, start: float, end: float, stage: int, cpu_ns: int) -> list[dict]:
    return [
        {"Event": "SparkListenerJobStart", "Job ID": job_id, "Submission Time": int(start * 1000), "Stage IDs": [stage]},
        {"Event": "SparkListenerStageCompleted", "Stage Info": {"Stage ID": stage, "Accumulables": [
            {"Name": "internal.metrics.executorCpuTime", "Value": cpu_ns}]}},
        {"Event": "SparkListenerJobEnd", "Job ID": job_id, "Completion Time": int(end * 1000)},
    ]


def test_jobs_and_commits_go_to_the_table_whose_wall_holds_them(tmp_path):
    events = [{"Event": "SparkListenerApplicationStart", "Timestamp": int((T0 + 5) * 1000)},
              *_job(0, T0 + 6, T0 + 7, 0, 10**9),          # before any table: outside
              *_job(1, T0 + 10, T0 + 12, 1, 2 * 10**9),    # bronze.a
              *_job(2, T0 + 11, T0 + 13, 2, 10**9),        # bronze.a, overlapping the first: 3 s of jobs, not 4
              *_job(3, T0 + 15, T0 + 16, 3, 0),            # silver.a
              {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart", "executionId": 0},
              {"Event": "org.apache.spark.sql.streaming.StreamingQueryListener$QueryStartedEvent"}]
    _write_rolled_log(tmp_path / "ev", events)
    ev = read_event_log(tmp_path / "ev")
    assert len(ev["jobs"]) == 4 and ev["sql_executions"] == 1 and ev["streaming_query_starts"] == 1

    lines = [(T0 + 1, "fitlake run: lakehouse /x"), (T0 + 14, "  bronze  bronze.a: 1 new files, 3 rows (5.0 s)"),
             (T0 + 14.5, "[ingest] done in 6.0 s"), (T0 + 18, "  silver  silver.a: 3 in -> 3 inserted [3.0 s]")]
    commits = [{"table": "bronze.a", "time": T0 + 12.5, "operation": "WRITE"},
               {"table": "silver.a", "time": T0 + 17, "operation": "MERGE"}]
    prof = attribute(T0, 20.0, lines, ev, commits)
    a, s = prof["tables"]
    assert (a["table"], a["spark_jobs"], a["jobs_s"], a["task_cpu_s"], a["driver_s"]) == ("bronze.a", 2, 3.0, 3.0, 2.0)
    assert a["commit_ops"] == {"WRITE": 1}
    assert (s["table"], s["spark_jobs"], s["jobs_s"], s["driver_s"], s["commit_ops"]) == ("silver.a", 1, 1.0, 2.0,
                                                                                          {"MERGE": 1})
    assert prof["outside_tables"] == {"spark_jobs": 1, "jobs_s": 1.0}
    assert prof["jvm_start_s"] == 5.0
    assert prof["by_stage"]["bronze"]["stage_outside_tables_s"] == 1.0  # the ingest stage's 6 s minus its table's 5
    assert prof["by_stage"]["silver"]["stage_outside_tables_s"] is None  # no stage line printed for it


def test_delta_commits_are_read_from_the_log_after_the_start(tmp_path):
    start = float(int(time.time()) - 50)  # the log files' mtimes are now: after the start
    log = tmp_path / "lake" / "silver" / "a" / "_delta_log"
    log.mkdir(parents=True)
    for v, (ts, op) in enumerate(((start - 100, "CREATE TABLE"), (start + 3, "MERGE"))):
        (log / f"{v:020d}.json").write_text(json.dumps({"commitInfo": {"timestamp": int(ts * 1000), "operation": op}})
                                            + "\n" + json.dumps({"add": {"path": "x.parquet"}}) + "\n")
    assert delta_commits(tmp_path / "lake", start) == [{"table": "silver.a", "time": start + 3, "operation": "MERGE"}]


def test_a_running_applications_log_gives_job_descriptions_and_sql_times_and_skips_its_half_line(tmp_path):
    """benchmarks.incremental_profile and bronze_profile read the event log of their own, still running JVM
    (``read_running_log``) through the same parser."""
    from benchmarks.profile_run import parse_events, read_running_log

    start = {**_job(0, T0, T0 + 1, 0, 10**9)[0], "Properties": {"spark.job.description": "silver.a"}}
    lines = [json.dumps(e) for e in (start, *_job(0, T0, T0 + 1, 0, 10**9)[1:],
                                     {"Event": "SparkListenerSQLExecutionStart", "time": int((T0 + 2) * 1000)})]
    lines.append('{"Event": "SparkListenerJobSt')  # the line being written
    log = tmp_path / "ev" / "eventlog_v2_app" / "events_1_app"
    log.parent.mkdir(parents=True)
    log.write_text("\n".join(lines))
    ev = read_running_log(tmp_path / "ev")
    assert [(j["desc"], j["cpu"]) for j in ev["jobs"]] == [("silver.a", 1.0)] and ev["sql_times"] == [T0 + 2]
    try:
        parse_events(lines)
    except ValueError:
        pass
    else:
        raise AssertionError("a finished log with a broken line must not be read as if whole")
