"""Schema location, source registry and reader options: plain Python, no Spark."""

from __future__ import annotations

import json

import pytest

from fitlake.bronze import SOURCES, file_source_options
from fitlake.bronze.schema import (
    PersistedSchema,
    ensure_schema,
    evolve,
    infer_columns,
    landing_files,
    load_schema,
    promotable,
    sample_landing,
    save_schema,
)
from fitlake.config import TABLES, Settings


def test_every_source_is_a_bronze_table_with_its_kaggle_file_name():
    assert set(SOURCES) <= set(TABLES["bronze"])
    assert SOURCES["daily_activity"].pattern == "fitbit/*/dailyActivity_merged*.csv"
    assert SOURCES["activity"].pattern == "activity/*/*.json"
    assert SOURCES["events"].pattern == "events/*.json"
    assert SOURCES["heartrate_seconds"].columns == ("Id", "Time", "Value")
    assert SOURCES["sleep_day"].root == "fitbit" and SOURCES["sleep_day"].glob == "sleepDay_merged*.csv"


def test_landing_files_match_by_name_and_skip_temp_and_hidden(tmp_path):
    day = tmp_path / "fitbit" / "2023-04-01"
    day.mkdir(parents=True)
    for name in [
        "dailySteps_merged.csv",
        "dailySteps_merged (1).csv",
        "dailySteps_merged.csv.tmp",
        ".dailySteps_merged.csv",
        "_dailySteps_merged.csv",
        "dailyCalories_merged.csv",
    ]:
        (day / name).write_text("Id\r\n")
    hidden = tmp_path / "fitbit" / ".staging"
    hidden.mkdir()
    (hidden / "dailySteps_merged.csv").write_text("Id\r\n")
    got = [p.name for p in landing_files(tmp_path, SOURCES["daily_steps"])]
    assert got == ["dailySteps_merged (1).csv", "dailySteps_merged.csv"]
    assert landing_files(tmp_path / "nowhere", SOURCES["daily_steps"]) == []


def test_infer_columns_keeps_hints_first_and_adds_new_names_in_order():
    expected = ("Id", "ActivityDay", "StepTotal")
    samples = ["\ufeffId,ActivityDay\r\n", "Id,ActivityDay,StepTotal,DeviceModel", "Id;Foo;Bar", "Zone,Other"]
    # a header missing StepTotal does not shrink the schema; unusable headers add nothing
    assert infer_columns("csv", samples, expected) == (*expected, "DeviceModel")
    json_samples = ['{"user_id": 1, "vo2": 3, "bad key": 1}', "[1]", "not json", '{"user_id": 2, "zone": 1}', ""]
    assert infer_columns("json", json_samples, ("user_id", "date")) == ("user_id", "date", "vo2", "zone")
    assert infer_columns("csv", [], expected) == expected
    deep = "[" * 100_000 + "]" * 100_000  # Python's json recurses: a sample too deep says nothing, it never crashes
    assert infer_columns("json", [deep, '{"user_id": 3, "hr": 1}'], ("user_id",)) == ("user_id", "hr")


def test_promotable_refuses_invalid_and_case_clashing_names():
    existing = ["Id", "Calories"]
    names = ["DeviceModel", "devicemodel", "calories", "", "a b", "x.y", "k=v", "_rescued_data", "Zone2", "x" * 200]
    assert promotable(names, existing) == ["DeviceModel", "Zone2"]


def test_evolve_appends_new_names_as_the_next_version():
    v0 = PersistedSchema("daily_steps", "csv", 0, ("Id", "StepTotal"))
    v1 = evolve(v0, ["Zone", "Id", "Band", "bad name"])
    assert (v1.version, v1.columns, v1.added) == (1, ("Id", "StepTotal", "Band", "Zone"), ("Band", "Zone"))
    assert evolve(v1, ["Id", "Zone", "bad name"]) is None
    assert evolve(v1, []) is None


def test_schema_versions_persist_and_the_latest_wins(tmp_path):
    location = tmp_path / "_schemas" / "daily_steps"
    assert load_schema(location) is None
    v0 = PersistedSchema("daily_steps", "csv", 0, ("Id",), inferred_from=("file:/a.csv",))
    v1 = evolve(v0, ["Zone"])
    save_schema(location, v0)
    save_schema(location, v1)
    save_schema(location, PersistedSchema("daily_steps", "csv", 1, ("changed",)))  # versions are never rewritten
    assert sorted(p.name for p in location.iterdir()) == ["schema_v0.json", "schema_v1.json"]
    assert load_schema(location) == v1
    assert json.loads((location / "schema_v0.json").read_text())["inferred_from"] == ["file:/a.csv"]


def test_ensure_schema_infers_once_from_the_first_files(tmp_path):
    settings = Settings(root=tmp_path)
    source = SOURCES["activity"]
    location = settings.schema_location("activity")
    first = ensure_schema(location, settings.landing_dir, source)
    assert first.columns == source.columns and load_schema(location) is None  # no files: hints, nothing persisted
    day = settings.landing_dir / "activity" / "date=2023-04-01"
    day.mkdir(parents=True)
    (day / "part-00000.json").write_bytes(b'\xef\xbb\xbf{"user_id": 1, "vo2_max": 40}\r\nnot json\r\n')
    inferred = ensure_schema(location, settings.landing_dir, source)
    assert inferred.columns == (*source.columns, "vo2_max") and inferred.version == 0
    (day / "part-00001.json").write_text('{"user_id": 2, "later": 1}\n')
    assert ensure_schema(location, settings.landing_dir, source) == inferred  # persisted: not inferred again
    samples, used = sample_landing(settings.landing_dir, SOURCES["daily_steps"])
    assert (samples, used) == ([], [])


def test_local_file_source_options():
    options = file_source_options(SOURCES["activity"], max_files_per_trigger=3)
    assert options == {
        "wholetext": "true",
        "recursiveFileLookup": "true",
        "pathGlobFilter": "*.json",
        "maxFilesPerTrigger": "3",
        "maxFileAge": "36500d",
    }
    assert file_source_options(SOURCES["activity"])["maxFilesPerTrigger"] == str(SOURCES["activity"].max_files_per_trigger)
