"""`fitlake maintain` and `fitlake forget` on one small lakehouse built from fixtures/landing in two incremental
runs (the session's shared incremental baseline, tests/baselines.py, copied) plus fixtures/events streamed in two
micro-batches of one stream run (small files and many versions, as a real lakehouse has them; a step goal of 40 so the stream's goal alerts
hold the erased person too).

The tests run in file order on the same lakehouse: maintenance first, then the bench figure's code path (on a copy),
then the erasure (killed with -9 in the middle, then rerun), its idempotent rerun, and a pipeline and stream rerun
that re-deliver the person's rows. Spark-heavy: marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from output_excerpt import failure_excerpt

from fitlake import delta_io
from fitlake.config import TABLES, Settings
from fitlake.silver.merge import table_version
from fitlake.silver.specs import SPECS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
ERASED = 3026864709  # in every fixture source: activity, every Fitbit file, the events
GOAL = 40  # the fixture's events are a few steps each: a low goal makes goal alerts, the person's among them

pytestmark = pytest.mark.slow


def _run(spark, settings):
    from fitlake.pipeline import run_pipeline

    return run_pipeline(spark, settings, say=lambda line: None)


def _stream(spark, settings, max_files_per_trigger=None):
    from fitlake.streaming.job import StreamOptions, run_stream

    return run_stream(spark, settings, StreamOptions(source="files", available_now=True,
                                                     max_files_per_trigger=max_files_per_trigger))


def table_refs(settings):
    return [settings.table(layer, name) for layer, names in TABLES.items() for name in names
            if delta_io.exists(None, settings.table(layer, name))]


def sorted_rows(spark, ref) -> list[tuple]:
    """The current rows, sorted (read with delta-rs: an independent reader, and no Spark job per table)."""
    from deltalake import DeltaTable

    data = DeltaTable(ref.path).to_pyarrow_table()
    return sorted(tuple(str(v) for v in row.values()) for row in data.to_pylist())


def query(settings, layer: str, name: str, sql: str = "SELECT * FROM t") -> list[dict]:
    """``sql`` over one table (``t``), answered by delta-rs (an independent reader, and no Spark job per check)."""
    return delta_io.local_query(settings.table(layer, name).path, sql)


def count(settings, layer: str, name: str, where: str = "true") -> int:
    return query(settings, layer, name, f"SELECT count(*) AS n FROM t WHERE {where}")[0]["n"]


def versions(settings) -> dict[str, int | None]:
    return {ref.full_name: table_version(None, ref) for ref in table_refs(settings)}


@pytest.fixture(scope="module")
def lake(spark, request, tmp_path_factory):
    """fixtures/landing delivered in two runs (days 1-3, day 4) and the events streamed in two micro-batches (one
    stream run: a second run cost a stream start, ~14 CPU s, for the same two commits per table). The two runs
    are the session's incremental baseline (tests/baselines.py, shared with tests/pipeline/
    test_pipeline_fixture_landing.py), copied: this file changes its lakehouse."""
    from baselines import copy_incremental, forget_catalog

    built = copy_incremental(request, tmp_path_factory.mktemp("ops"))
    root, landing = built["root"], built["landing"]
    settings = Settings(root=root, landing=landing, step_goal=GOAL)  # GOAL: the stream's goal alerts
    forget_catalog(spark)  # names another test registered for its root
    shutil.copytree(FIXTURES / "events", landing / "events")
    _stream(spark, settings, max_files_per_trigger=3)  # two micro-batches of three files: two commits per table
    from deltalake import DeltaTable

    appends = [h for h in DeltaTable(settings.table("silver", "events").path).history()
               if int((h.get("operationMetrics") or {}).get("numOutputRows") or 0) > 0]
    assert len(appends) >= 2, appends  # the events came in two batches (small files, several versions)
    return settings


# ---- maintain --------------------------------------------------------------------------------------------------------
def test_maintain_keeps_rows_reduces_files_and_is_idempotent(spark, lake):
    from fitlake.ops.maintain import append_log, file_state, maintain

    refs = table_refs(lake)
    before_rows = {ref.full_name: sorted_rows(spark, ref) for ref in refs}
    before_files = {ref.full_name: int(file_state(spark, ref)["numFiles"]) for ref in refs}
    assert sum(before_files.values()) > len(refs)  # the incremental runs left small files to compact

    results, _ = maintain(spark, lake, say=lambda line: None)
    append_log(spark, lake, "test", results, 168)

    after_files = {ref.full_name: int(file_state(spark, ref)["numFiles"]) for ref in refs}
    for ref in refs:
        assert sorted_rows(spark, ref) == before_rows[ref.full_name], ref.full_name
    compacted = [r for r in results if r.optimized]
    assert compacted, "no table was compacted"
    for r in compacted:
        assert after_files[r.table] < before_files[r.table], r.table
    assert sum(after_files.values()) < sum(before_files.values())
    for r in compacted:
        layer, name = r.table.split(".")
        if layer == "silver" and name in SPECS and SPECS[name].cluster_by:  # liquid clustering: OPTIMIZE clusters by the spec's keys
            assert r.layout == "clustered by " + ", ".join(SPECS[name].cluster_by), r
        assert r.files_after == after_files[r.table], r  # the reported figure is the table's real file count
    # retention properties set on every table, log table written
    props = file_state(spark, lake.table("bronze", "activity"))["properties"]
    assert props["delta.deletedFileRetentionDuration"] == "interval 7 days"
    assert props["delta.logRetentionDuration"] == "interval 30 days"
    log = count(lake, "ops", "maintenance_log", "run_id = 'test'")
    assert log == len(results)

    # a second maintain commits nothing (OPTIMIZE, properties and VACUUM all skip) — except the retention
    # properties on ops.maintenance_log, which the first run's log row created after that run had passed it
    log_table = "ops.maintenance_log"
    v1 = {k: v for k, v in versions(lake).items() if k != log_table}
    again, _ = maintain(spark, lake, say=lambda line: None)
    assert {k: v for k, v in versions(lake).items() if k != log_table} == v1
    assert not any(r.optimized or r.files_vacuumed for r in again)
    assert [r.table for r in again if r.properties_set] == [log_table]
    v2 = versions(lake)
    third, _ = maintain(spark, lake, say=lambda line: None)
    assert versions(lake) == v2 and not any(r.optimized or r.properties_set or r.files_vacuumed for r in third)


def test_pipeline_and_stream_continue_after_maintain(spark, lake):
    """OPTIMIZE and the property commits must not break the streams that read bronze and silver.events."""
    v = versions(lake)
    report = _run(spark, lake)
    assert not [c for c in report.silver if c.batches and c.rows_in]  # nothing new: no rows read twice
    _stream(spark, lake)
    for name in ("silver.activity", "gold.fact_daily_activity", "gold.event_windows"):
        assert versions(lake)[name] == v[name], name


def test_maintain_bench_figure_code_path(spark, lake, tmp_path):
    """B7's code (benchmarks/maintain_bench.py) on a copy of the tiny lakehouse's gold and ops tables (the tables its
    queries read and the maintenance log: every step of its code path, without re-checking the ~25 bronze, silver
    and quarantine tables the test above already maintained), so the figure cannot rot."""
    import sys

    sys.path.insert(0, str(REPO))
    from benchmarks.maintain_bench import measure_maintain

    copy = Settings(root=tmp_path / "lakehouse")
    for layer in ("gold", "ops"):
        shutil.copytree(lake.root / layer, copy.root / layer)
    fig = measure_maintain(spark, copy, repeats=1)
    assert fig["total_files_before"] >= fig["total_files_after"] > 0
    assert fig["gold_query_s_before"] > 0 and fig["gold_query_s_after"] > 0
    assert "gold.fact_hourly_activity" in fig["files_after"]
    json.dumps(fig)


# ---- forget ----------------------------------------------------------------------------------------------------------
def parquet_files_holding(root: Path, ident: str) -> list[str]:
    """Every data Parquet file under ``root`` (table data and Change Data Feed files; not the Delta log) in which
    any column holds ``ident`` as a value or inside a text."""
    hits = []
    for path in root.rglob("*.parquet"):
        if "_delta_log" in path.parts:
            continue
        table = pq.read_table(path)
        for col in table.columns:
            try:
                text = pc.cast(col, pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            if pc.any(pc.match_substring(text, ident)).as_py():
                hits.append(str(path))
                break
    return hits


def readable_versions_holding(settings: Settings, ident: str) -> list[str]:
    """Every table version that can still be read (delta-rs, all columns as text) and holds ``ident``."""
    from deltalake import DeltaTable

    hits = []
    for ref in table_refs(settings):
        latest = DeltaTable(ref.path).version()
        for v in range(latest + 1):
            try:
                data = DeltaTable(ref.path, version=v).to_pyarrow_table()
            except Exception:  # files of this version were vacuumed: it cannot be read any more
                continue
            for col in data.columns:
                try:
                    text = pc.cast(col, pa.string())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    continue
                if pc.any(pc.match_substring(text, ident)).as_py():
                    hits.append(f"{ref.full_name}@v{v}")
                    break
    return hits


def person_rows(spark, settings, ref) -> int:
    """The person's rows in the current version, by forget's condition (``person_sql``: an id column equal to the id,
    or the id inside the raw text of a corrupt/rescued record), evaluated here with delta-rs + pyarrow: an
    independent reader, and no Spark job per table (tables without an id column hold no person rows: 0)."""
    from deltalake import DeltaTable

    from fitlake.ops.forget import ID_COLUMNS, TEXT_COLUMNS

    data = DeltaTable(ref.path).to_pyarrow_table()
    ident = str(ERASED)
    if not any(c in data.column_names for c in ID_COLUMNS):
        return 0
    hit = pa.array([False] * data.num_rows, type=pa.bool_())  # typed: an empty table gives an empty bool array
    for c in ID_COLUMNS + TEXT_COLUMNS:
        if c not in data.column_names:
            continue
        text = pc.cast(data.column(c), pa.string())
        match = (pc.equal(pc.utf8_trim_whitespace(text), ident) if c in ID_COLUMNS
                 else pc.match_substring_regex(text, f"(^|[^0-9]){ident}([^0-9]|$)"))
        hit = pc.or_(hit, pc.fill_null(match, False))
    return pc.sum(hit.cast(pa.int64())).as_py() or 0


def test_forget_killed_in_the_middle_then_rerun_erases_the_person_everywhere(spark, lake):
    """`fitlake forget` SIGKILLed (process group, JVM included) after its fourth table's DELETE, before any VACUUM;
    the rerun finishes the erasure: no readable version and no data Parquet file under the root holds the id."""
    from fitlake.ops.forget import forget

    ident = str(ERASED)
    assert parquet_files_holding(lake.root, ident)  # the fixture really holds the person ...
    for layer, name in (("gold", "event_windows"), ("gold", "goal_alerts"), ("silver", "events"),
                        ("bronze", "events"), ("gold", "dim_user")):
        assert person_rows(spark, lake, lake.table(layer, name)) > 0, (layer, name)  # ... in the stream's tables too

    env = {"FITLAKE_JIT": "c1",  # DELETE/VACUUM only: C1's less CPU (tests/faults/fault_jobs.job_env)
           **os.environ, "FITLAKE_FAULT_KILL_AT": "forget:delete:*@4", "FITLAKE_DRIVER_MEMORY": "1g"}
    killed = subprocess.run(
        [sys.executable, "-m", "fitlake.cli", "forget", "--root", str(lake.root), "--landing", str(lake.landing_dir),
         "--step-goal", str(GOAL), "--user", ident],
        env=env, capture_output=True, text=True, start_new_session=True, timeout=900)
    assert killed.returncode == -9, failure_excerpt(killed.stdout + killed.stderr)
    log = query(lake, "ops", "erasure_log")
    assert [r["event"] for r in log] == ["requested"]  # killed before completion
    assert parquet_files_holding(lake.root, ident)  # nothing vacuumed yet: the old files still hold the person

    report = forget(spark, lake, ERASED, say=lambda line: None)
    assert not report.already_completed
    assert parquet_files_holding(lake.root, ident) == []
    assert readable_versions_holding(lake, ident) == []
    for ref in table_refs(lake):
        assert person_rows(spark, lake, ref) == 0, ref.full_name
    # the others are still there
    assert count(lake, "gold", "dim_user") == 3
    assert count(lake, "gold", "event_windows") > 0

    log = query(lake, "ops", "erasure_log")
    assert sorted(r["event"] for r in log) == ["completed", "requested"]
    assert all(ident not in json.dumps(r, default=str) for r in log)
    assert {r["request_hash"] for r in log} == {report.request_hash}
    suppressed = query(lake, "ops", "suppressed_users")
    assert [r["user_hash"] for r in suppressed] == [report.request_hash]  # once, although two runs added it


def test_forget_rerun_is_idempotent(spark, lake):
    from fitlake.ops.forget import forget

    v = versions(lake)
    report = forget(spark, lake, ERASED, say=lambda line: None)
    assert report.already_completed and report.total == 0
    assert versions(lake) == v  # nothing committed anywhere: no log row, no suppression row, no DELETE


def test_pipeline_rerun_and_redelivery_do_not_resurrect(spark, lake):
    """The same landing again, plus a re-delivered copy of a file with the person's rows under a new name."""
    landing = lake.landing_dir
    redelivered = landing / "fitbit" / "2023-04-05"
    redelivered.mkdir()
    shutil.copy(landing / "fitbit" / "2023-04-01" / "dailyActivity_merged.csv", redelivered / "dailyActivity_merged.csv")
    report = _run(spark, lake)
    daily = next(c for c in report.silver if c.table == "daily_activity")
    others = sum(1 for line in (redelivered / "dailyActivity_merged.csv").read_text().splitlines()[1:]
                 if line and not line.startswith(str(ERASED)))
    assert daily.rows_in == others  # the erased person's rows were dropped before silver; the others came through
    assert parquet_files_holding(lake.root, str(ERASED)) == []
    assert count(lake, "silver", "daily_activity", f"user_id = {ERASED}") == 0


def test_stream_redelivery_does_not_resurrect(spark, lake):
    """New events of the person (and of the others) arrive on the live stream after the erasure: the stream consults
    the suppression list, so bronze, silver, windows and alerts get the others' events and none of the person's."""
    lines = [json.loads(line) for f in sorted((FIXTURES / "events").glob("*.json"))
             for line in f.read_text().splitlines() if line.strip()]
    fresh = []
    for i, e in enumerate(lines):  # the same events with new ids: new to silver, not duplicates
        if isinstance(e, dict) and e.get("event_id"):
            fresh.append({**e, "event_id": f"redelivered-{i:04d}"})
    others = sum(1 for e in fresh if e.get("user_id") != ERASED)
    assert others and len(fresh) > others
    (lake.landing_dir / "events" / "events-20230401T080010-000010.json").write_text(
        "\n".join(json.dumps(e) for e in fresh) + "\n")
    bronze_before = count(lake, "bronze", "events")
    _stream(spark, lake)
    assert count(lake, "bronze", "events") == bronze_before + others
    for name in (("bronze", "events"), ("silver", "events"), ("gold", "event_windows"), ("gold", "goal_alerts"),
                 ("gold", "event_daily_steps"), ("quarantine", "events")):
        assert person_rows(spark, lake, lake.table(*name)) == 0, name
    assert parquet_files_holding(lake.root, str(ERASED)) == []
