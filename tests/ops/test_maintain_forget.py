"""`fitlake maintain` and `fitlake forget` on one small lakehouse built from fixtures/landing in three incremental
runs plus a stream of fixtures/events (small files and many versions, as a real lakehouse has them).

The tests run in file order on the same lakehouse: maintenance first, then the bench figure's code path (on a copy),
then the erasure, its rerun, and a pipeline rerun that re-delivers the person's rows.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fitlake import delta_io
from fitlake.config import TABLES, Settings
from fitlake.silver.merge import table_version
from fitlake.silver.specs import SPECS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
ERASED = 3026864709  # in every fixture source: activity, every Fitbit file, the events
DAYS = ("2023-04-01", "2023-04-02", "2023-04-03", "2023-04-04")


def _stage_day(landing: Path, day: str) -> None:
    """Copy one day of fixtures/landing (activity partition + Fitbit folder) into ``landing``."""
    src_act = FIXTURES / "landing" / "activity" / f"date={day}"
    if src_act.is_dir():
        shutil.copytree(src_act, landing / "activity" / f"date={day}")
    src_fit = FIXTURES / "landing" / "fitbit" / day
    if src_fit.is_dir():
        shutil.copytree(src_fit, landing / "fitbit" / day)


def _run(spark, settings):
    from fitlake.pipeline import run_pipeline

    return run_pipeline(spark, settings, say=lambda line: None)


def _stream(spark, settings):
    from fitlake.streaming.job import StreamOptions, run_stream

    return run_stream(spark, settings, StreamOptions(source="files", available_now=True))


def table_refs(settings):
    return [settings.table(layer, name) for layer, names in TABLES.items() for name in names
            if delta_io.exists(None, settings.table(layer, name))]


def sorted_rows(spark, ref) -> list[tuple]:
    """The current rows, sorted (read with delta-rs: an independent reader, and no Spark job per table)."""
    from deltalake import DeltaTable

    data = DeltaTable(ref.path).to_pyarrow_table()
    return sorted(tuple(str(v) for v in row.values()) for row in data.to_pylist())


def versions(settings) -> dict[str, int | None]:
    return {ref.full_name: table_version(None, ref) for ref in table_refs(settings)}


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """fixtures/landing delivered in two runs (days 1-3, day 4) and the events streamed in two halves."""
    root = tmp_path_factory.mktemp("ops") / "lakehouse"
    landing = root.parent / "landing"
    settings = Settings(root=root, landing=landing)
    (landing / "events").mkdir(parents=True)
    events = sorted((FIXTURES / "events").glob("*.json"))
    for batch in (DAYS[:3], DAYS[3:]):
        for day in batch:
            _stage_day(landing, day)
        _run(spark, settings)
    for half in (events[:3], events[3:]):
        for f in half:
            shutil.copy(f, landing / "events" / f.name)
        _stream(spark, settings)
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
        if layer == "silver" and SPECS[name].cluster_by:  # liquid clustering: OPTIMIZE clusters by the spec's keys
            assert r.layout == "clustered by " + ", ".join(SPECS[name].cluster_by), r
        assert r.files_after == after_files[r.table], r  # the reported figure is the table's real file count
    # retention properties set on every table, log table written
    props = file_state(spark, lake.table("bronze", "activity"))["properties"]
    assert props["delta.deletedFileRetentionDuration"] == "interval 7 days"
    assert props["delta.logRetentionDuration"] == "interval 30 days"
    log = delta_io.read(spark, lake.table("ops", "maintenance_log")).where("run_id = 'test'").count()
    assert log == len(results)

    # a second maintain commits nothing (OPTIMIZE, properties and VACUUM all skip)
    v1 = versions(lake)
    again, _ = maintain(spark, lake, say=lambda line: None)
    assert versions(lake) == v1
    assert not any(r.optimized or r.properties_set or r.files_vacuumed for r in again)


def test_pipeline_and_stream_continue_after_maintain(spark, lake):
    """OPTIMIZE and the property commits must not break the streams that read bronze and silver.events."""
    v = versions(lake)
    report = _run(spark, lake)
    assert not [c for c in report.silver if c.batches and c.rows_in]  # nothing new: no rows read twice
    _stream(spark, lake)
    for name in ("silver.activity", "gold.fact_daily_activity", "gold.event_windows"):
        assert versions(lake)[name] == v[name], name


def test_maintain_bench_figure_code_path(spark, lake, tmp_path):
    """B7's code (benchmarks/maintain_bench.py) on a copy of the tiny lakehouse, so the figure cannot rot."""
    import sys

    sys.path.insert(0, str(REPO))
    from benchmarks.maintain_bench import measure_maintain

    copy = Settings(root=tmp_path / "lakehouse")
    shutil.copytree(lake.root, copy.root)
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


def test_forget_erases_the_person_everywhere(spark, lake):
    from fitlake.ops.forget import forget

    ident = str(ERASED)
    assert parquet_files_holding(lake.root, ident)  # the fixture really holds the person
    report = forget(spark, lake, ERASED, say=lambda line: None)

    assert report.rows_deleted["silver.hourly_steps"] > 0
    assert report.rows_deleted["bronze.daily_activity"] > 0
    assert report.rows_deleted["gold.dim_user"] == 1
    assert report.rows_deleted["gold.event_windows"] > 0
    assert parquet_files_holding(lake.root, ident) == []
    assert readable_versions_holding(lake, ident) == []
    # others are still there
    assert delta_io.read(spark, lake.table("gold", "dim_user")).count() == 3

    log = delta_io.read(spark, lake.table("ops", "erasure_log")).collect()
    assert sorted(r["event"] for r in log) == ["completed", "requested"]
    assert all(ident not in json.dumps(r.asDict(), default=str) for r in log)
    assert {r["request_hash"] for r in log} == {report.request_hash}
    assert json.loads(next(r for r in log if r["event"] == "completed")["rows_per_table"])["silver.activity"] > 0


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
    assert delta_io.read(spark, lake.table("silver", "daily_activity")).where(f"user_id = {ERASED}").count() == 0
