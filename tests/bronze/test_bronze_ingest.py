"""End to end: landing files -> planned batches -> bronze Delta tables (checked with delta-rs, no Spark)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote

import pytest
from deltalake import DeltaTable

from fitlake.bronze import SOURCES, BronzeIngestError, describe, ingest_all, ingest_source
from fitlake.bronze import ingest as ingest_module
from fitlake.bronze import writer as writer_module
from fitlake.bronze.schema import load_schema

REPO = Path(__file__).resolve().parents[2]
OLD_MTIME = 1460419200  # 2016-04-12: an export dropped in long after its files were written


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def table(settings, name: str) -> list[dict]:
    rows = DeltaTable(settings.table("bronze", name).path).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: (r["_source_file"], r["_line"]))


def delta_version(settings, name: str) -> int:
    return DeltaTable(settings.table("bronze", name).path).version()


def test_csv_runs_are_incremental_idempotent_and_evolve_new_columns(spark, settings):
    fitbit = settings.landing_dir / "fitbit"
    header = "Id,ActivityDay,StepTotal\r\n"
    write(fitbit / "2023-04-01/dailySteps_merged.csv", "\ufeff" + header + "1503960366,4/1/2023,0\r\n2,4/1/2023,5\r\n")
    write(fitbit / "2023-04-01/dailySteps_merged (1).csv", header + "3,4/1/2023,7\r\n")  # re-delivery: also read
    write(fitbit / "wrong_delimiter/dailySteps_merged.csv", "Id;ActivityDay;StepTotal\r\n4;4/1/2023;1\r\n")
    write(fitbit / "empty/dailySteps_merged.csv", "")
    write(fitbit / "header_only/dailySteps_merged.csv", header)
    write(fitbit / "truncated/dailySteps_merged.csv", header + "5,4/1/2023,9\r\n6,4/1/20")
    write(fitbit / "non_utf8/dailySteps_merged.csv", header.encode() + b"7,4/1/2023,1\xff2\r\n8,4/1/2023,3\r\n")
    write(fitbit / "2023-04-01/dailySteps_merged.csv.tmp", header + "99,half,written")  # never read
    write(fitbit / "2023-04-01/dailyCalories_merged.csv", "Id,ActivityDay,Calories\r\n1,4/1/2023,1\r\n")  # other source

    first = ingest_source(spark, settings, "daily_steps")
    assert {k: first[k] for k in ("files", "rows", "corrupt_rows", "rescued_rows", "new_columns", "batches")} == {
        "files": 7,  # every file read, the empty one too (it yields no row)
        "rows": 9,
        "corrupt_rows": 4,
        "rescued_rows": 0,
        "new_columns": [],
        "batches": 1,
    }
    rows = table(settings, "daily_steps")
    assert {(r["Id"], r["StepTotal"]) for r in rows if r["_corrupt_record"] is None} == {
        ("1503960366", "0"), ("2", "5"), ("3", "7"), ("5", "9"), ("8", "3"),
    }
    corrupt = {Path(r["_source_file"]).parent.name: r["_corrupt_record"] for r in rows if r["_corrupt_record"]}
    assert corrupt["truncated"] == "6,4/1/20" and corrupt["non_utf8"] == "7,4/1/2023,1\ufffd2"
    assert [r["_line"] for r in rows if "wrong_delimiter" in r["_source_file"]] == [1, 2]  # header kept too
    assert all(r["_ingested_at"] and r["_source_file_modified"] and r["_batch_id"] == 0 for r in rows)
    assert load_schema(settings.schema_location("daily_steps")).version == 0

    version = delta_version(settings, "daily_steps")
    again = ingest_source(spark, settings, "daily_steps")
    assert (again["files"], again["rows"], again["batches"]) == (0, 0, 0)
    assert delta_version(settings, "daily_steps") == version  # a rerun commits nothing
    assert "no new files" in describe(again)

    # A new day with a column nobody declared, with a 2016 timestamp: read, and the column is rescued.
    os.utime(write(fitbit / "2023-04-02/dailySteps_merged.csv", header[:-2] + ",Zone\r\n9,4/2/2023,11,Z1\r\n"),
             (OLD_MTIME, OLD_MTIME))
    evolved = ingest_source(spark, settings, "daily_steps")
    assert (evolved["files"], evolved["rows"], evolved["rescued_rows"], evolved["new_columns"]) == (1, 1, 1, ["Zone"])
    assert "new columns from the next run on: Zone" in describe(evolved)
    day2 = [r for r in table(settings, "daily_steps") if "2023-04-02" in r["_source_file"]]
    assert [(r["Id"], json.loads(r["_rescued_data"]), r["Zone"]) for r in day2] == [("9", {"Zone": "Z1"}, None)]
    assert load_schema(settings.schema_location("daily_steps")).columns[-1] == "Zone"

    write(fitbit / "2023-04-03/dailySteps_merged.csv", "Id,ActivityDay,StepTotal,Zone\r\n10,4/3/2023,12,Z2\r\n")
    later = ingest_source(spark, settings, "daily_steps")
    assert (later["rows"], later["rescued_rows"], later["new_columns"], later["schema_version"]) == (1, 0, [], 1)
    rows = table(settings, "daily_steps")
    assert [(r["Id"], r["Zone"], r["_rescued_data"]) for r in rows if "2023-04-03" in r["_source_file"]] == [
        ("10", "Z2", None)
    ]
    assert len(rows) == 11 and len({(r["_source_file"], r["_line"]) for r in rows}) == 11


def test_killed_run_rerun_loses_and_duplicates_nothing(spark, settings, monkeypatch):
    """JSON lines under date= folders, two files, one per batch; the run dies after Delta committed the second
    batch but before it was recorded as ingested (the worst moment): the rerun redoes that plan, finds its rows in
    the table (its batch and `_ingested_at`), writes nothing, and measures the counts from those rows."""
    day = settings.landing_dir / "activity" / "date=2023-04-01"
    write(day / "part-00000.json", '{"user_id": 1503960366, "date": "2023-03-31", "steps": 0, "vo2": 40}\n[1,2]\n')
    write(day / "part-00001-corrections.json", '{"user_id": 1, "user_id": 2}\n{"user_id": 5, "date": "2023-04-01"}\n')
    write(settings.landing_dir / "_manifest.json", "{}")  # not a source file

    real_write = writer_module.write_batch

    def dies_after_second_write(batch_df, batch_id, ref, app_id, *args):
        real_write(batch_df, batch_id, ref, app_id, *args)
        if batch_id == 1:
            raise RuntimeError("simulated kill")

    monkeypatch.setattr(writer_module, "write_batch", dies_after_second_write)
    with pytest.raises(Exception, match="simulated kill"):
        ingest_source(spark, settings, "activity", max_files_per_trigger=1)
    assert len(table(settings, "activity")) == 4  # both batches are in Delta, the second not recorded as ingested
    version = delta_version(settings, "activity")

    monkeypatch.setattr(writer_module, "write_batch", real_write)
    rerun = ingest_source(spark, settings, "activity", max_files_per_trigger=1)
    assert (rerun["batches"], rerun["rows"], rerun["corrupt_rows"]) == (1, 2, 1)  # the redone batch, measured
    assert [Path(unquote(f)).name for f, _fmt in rerun["formats"]] == ["part-00001-corrections.json"]
    assert delta_version(settings, "activity") == version  # the committed plan was not written again
    rows = table(settings, "activity")
    assert [(r["user_id"], r["date"], r["steps"], r["_corrupt_record"]) for r in rows] == [
        ("1503960366", "2023-03-31", "0", None),  # `date` is the JSON field, not the date= folder
        (None, None, None, "[1,2]"),
        (None, None, None, '{"user_id": 1, "user_id": 2}'),
        ("5", "2023-04-01", None, None),
    ]
    assert [r["_batch_id"] for r in rows] == [0, 0, 1, 1]
    assert (rows[0]["vo2"], rows[0]["_rescued_data"]) == ("40", None)  # seen in the first file: inferred
    assert ingest_source(spark, settings, "activity")["batches"] == 0


def test_redone_plan_is_not_mistaken_for_an_earlier_batch_of_the_same_number(spark, settings, monkeypatch):
    """The source's state is reset (its checkpoint folder deleted), so batch numbers start again at 0 while the
    table keeps the old batch 0. The new batch 0 dies before its write: the rerun must write it (only rows of the
    plan's own `_ingested_at` count as written), once, as a plain append (no Delta txn action: no table-state job)."""
    day = settings.landing_dir / "activity" / "date=2023-04-01"
    write(day / "part-00000.json", '{"user_id": 1, "date": "2023-04-01", "steps": 10}\n')
    assert ingest_source(spark, settings, "activity")["rows"] == 1
    shutil.rmtree(settings.checkpoint("bronze", "activity"))
    write(day / "part-00001.json", '{"user_id": 2, "date": "2023-04-01", "steps": 20}\n')

    real_write = writer_module.write_batch

    def dies_before_writing(*args, **kwargs):
        raise RuntimeError("simulated kill")

    monkeypatch.setattr(writer_module, "write_batch", dies_before_writing)
    with pytest.raises(Exception, match="simulated kill"):
        ingest_source(spark, settings, "activity")
    monkeypatch.setattr(writer_module, "write_batch", real_write)
    rerun = ingest_source(spark, settings, "activity")
    assert (rerun["batches"], rerun["rows"]) == (1, 2)  # both files: the reset state knows neither
    rows = table(settings, "activity")
    assert sorted((r["user_id"], r["_batch_id"]) for r in rows) == [("1", 0), ("1", 0), ("2", 0)]
    log = Path(settings.table("bronze", "activity").path, "_delta_log")
    actions = [json.loads(line) for f in sorted(log.glob("*.json")) for line in f.read_text().splitlines()]
    assert not [a for a in actions if "txn" in a]  # plain appends: Delta never built the table state to check one
    assert ingest_source(spark, settings, "activity")["batches"] == 0


def test_plan_of_older_code_is_redone_with_its_txn_guard(spark, settings, monkeypatch):
    """A plan left by older code (no ``guard`` mark) was written with Delta's txnAppId/txnVersion: its redo keeps
    that guard, so a batch committed before the crash is skipped by Delta, not written twice."""
    day = settings.landing_dir / "activity" / "date=2023-04-01"
    write(day / "part-00000.json", '{"user_id": 1, "date": "2023-04-01", "steps": 10}\n')
    real_write = writer_module.write_batch

    def older_code_dies_after_writing(batch_df, batch_id, ref, app_id, creates=False, guard=True):
        real_write(batch_df, batch_id, ref, app_id, creates, True)  # older code: always the txn guard
        raise RuntimeError("simulated kill")

    monkeypatch.setattr(writer_module, "write_batch", older_code_dies_after_writing)
    with pytest.raises(Exception, match="simulated kill"):
        ingest_source(spark, settings, "activity")
    plan_file = Path(settings.checkpoint("bronze", "activity"), "_fitlake", "plan.json")
    plan = json.loads(plan_file.read_text())
    del plan["guard"]
    plan_file.write_text(json.dumps(plan))
    version = delta_version(settings, "activity")
    monkeypatch.setattr(writer_module, "write_batch", real_write)
    rerun = ingest_source(spark, settings, "activity")
    assert (rerun["batches"], rerun["rows"]) == (1, 1)  # measured from the table
    assert delta_version(settings, "activity") == version and len(table(settings, "activity")) == 1


def test_ingest_all_reports_every_source_and_names_failures(spark, settings, monkeypatch):
    messages = []

    def fails_for_weight(spark_, settings_, name, **kw):
        if name == "weight_log":
            raise OSError("disk full\nmore detail")
        return {"source": name, "table": f"bronze.{name}", "batches": 0}

    monkeypatch.setattr(ingest_module, "ingest_source", fails_for_weight)
    with pytest.raises(BronzeIngestError, match="1 bronze source.*weight_log") as err:
        ingest_all(spark, settings, names=["daily_steps", "weight_log", "sleep_day"], progress=messages.append)
    assert [r["source"] for r in err.value.results] == ["daily_steps", "weight_log", "sleep_day"]
    # one line per source as it finishes (sources run side by side: any order)
    assert len(messages) == 3 and "bronze.weight_log: FAILED (disk full); rerun to continue where it stopped" in messages


KAGGLE_COUNTS = {
    "daily_activity": 940,
    "sleep_day": 413,  # 3 exact duplicates stay in bronze; silver removes them
    "hourly_steps": 22_099,
    "hourly_calories": 22_099,
    "hourly_intensities": 22_099,
    "weight_log": 67,
    "heartrate_seconds": 8_418,
}


@pytest.fixture(scope="module")
def real_lake(spark, kaggle_dir, tmp_path_factory):
    """The real export (copied into tmp, never into the repo) + the committed fixture landing + live events, in
    one landing folder, ingested once."""
    from fitlake.config import Settings

    root = tmp_path_factory.mktemp("real")
    settings = Settings(root=root / "lake")
    landing = settings.landing_dir
    shutil.copytree(REPO / "fixtures" / "landing", landing)
    shutil.copytree(REPO / "fixtures" / "events", landing / "events")
    export = landing / "fitbit" / kaggle_dir.name
    export.mkdir(parents=True)
    for f in kaggle_dir.glob("*.csv"):  # tmp copies (a symlink out of the landing is never read)
        shutil.copy2(f, export / f.name)
    (landing / "fitbit" / "heartrate-sample").mkdir()
    shutil.copy2(kaggle_dir.parent / "heartrate-sample" / "heartrate_seconds_merged.csv",
                 landing / "fitbit" / "heartrate-sample" / "heartrate_seconds_merged.csv")
    messages: list[str] = []
    results = ingest_all(spark, settings, names=[*ingest_module.BATCH_SOURCES, "events"], progress=messages.append)
    return settings, {r["source"]: r for r in results}, messages


def _origin(path: str) -> str:
    return "kaggle" if ("2016-04-12" in path or "heartrate-sample" in path) else "fixtures"


def _rows_by_origin(settings, name: str) -> dict[str, int]:
    arrow = DeltaTable(settings.table("bronze", name).path).to_pyarrow_table(columns=["_source_file"])
    origins = [_origin(p) for p in arrow.column("_source_file").to_pylist()]
    return {o: origins.count(o) for o in set(origins)}


@pytest.mark.parametrize("name", sorted(KAGGLE_COUNTS))
def test_real_export_lands_every_row(real_lake, name):
    settings, _, _ = real_lake
    columns = ["_source_file", "_corrupt_record", "_rescued_data", SOURCES[name].columns[0]]
    rows = DeltaTable(settings.table("bronze", name).path).to_pyarrow_table(columns=columns).to_pylist()
    real = [r for r in rows if _origin(r["_source_file"]) == "kaggle"]
    assert len(real) == KAGGLE_COUNTS[name]
    assert all(r["_corrupt_record"] is None and r["_rescued_data"] is None for r in real)
    assert all(len(r["Id"]) == 10 for r in real)


def test_fixture_landing_matches_the_reference_counts(real_lake):
    settings, results, messages = real_lake
    expected = json.loads((REPO / "fixtures" / "expected" / "landing_counts.json").read_text())
    got = {name: _rows_by_origin(settings, name).get("fixtures", 0) for name in expected}
    assert got == {name: counts["bronze_rows"] for name, counts in expected.items()}
    assert results["events"]["rows"] == json.loads((REPO / "fixtures/expected/events_summary.json").read_text())[
        "events"
    ]
    assert len(messages) == len(results) and all("FAILED" not in m for m in messages)
