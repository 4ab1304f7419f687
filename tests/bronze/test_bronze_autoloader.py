"""Bronze on the dev/prod targets (bronze/autoloader.py) against the stand-in workspace's `cloudFiles` (issue #18
item 3): an empty landing folder is "no files yet", a new column does not stop the run, only documented options."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from fitlake import delta_io
from fitlake.bronze import SOURCES, ingest_all, ingest_source
from fitlake.bronze.autoloader import cloudfiles_options
from fitlake.config import Settings

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bundle"))  # the stand-in workspace lives beside databricks.yml, not in the wheel

from fitlake_bundle import standin  # noqa: E402


@pytest.fixture()
def dev(spark, tmp_path, monkeypatch) -> Settings:
    """dev-target settings in a fresh stand-in workspace: its schema "deployed" (created) as the bundle would."""
    monkeypatch.setenv("FITLAKE_STANDIN_WORKSPACE", str(tmp_path / "ws"))
    schema = f"dev_t_{uuid.uuid4().hex[:8]}"
    location = tmp_path / "ws" / "catalog" / f"{schema}.db"
    location.mkdir(parents=True)
    spark.sql(f"CREATE DATABASE spark_catalog.{schema} LOCATION '{location}'")
    settings = Settings(target="dev", catalog="spark_catalog", schema=schema,
                        landing=Path(f"/Volumes/spark_catalog/{schema}/landing"))
    assert settings.landing_dir == tmp_path / "ws" / "Volumes" / "spark_catalog" / schema / "landing"
    return settings


def _land(settings: Settings, relative: str, text: str) -> None:
    path = settings.landing_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("name", ["daily_activity", "activity", "events"])
def test_options_are_documented_and_the_schema_is_fixed(name):
    settings = Settings(target="dev", catalog="c", schema="s")
    options = cloudfiles_options(settings, SOURCES[name])
    assert standin.check_options(options, None) == "text"  # every key documented; text: nothing to infer
    assert options["cloudFiles.schemaLocation"].startswith("/Volumes/c/s/state/_schemas/" + name)
    assert options["pathGlobFilter"] == SOURCES[name].glob and options["wholeText"] == "true"


def test_the_standin_enforces_auto_loaders_contract(tmp_path):
    with pytest.raises(standin.StandInError, match="CF_UNKNOWN_OPTION_KEYS_ERROR.*maxFileAge"):
        standin.check_options({"cloudFiles.format": "text", "maxFileAge": "1d"}, None)  # a file-source option
    with pytest.raises(standin.StandInError, match="schemaLocation is required"):
        standin.check_options({"cloudFiles.format": "csv", "header": "true"}, None)
    with pytest.raises(standin.StandInError, match="addNewColumns is not allowed when a schema is provided"):
        standin.check_options({"cloudFiles.format": "json", "cloudFiles.schemaEvolutionMode": "addNewColumns"}, "s")
    empty = tmp_path / "empty"
    empty.mkdir()
    hints = {"cloudFiles.format": "csv", "cloudFiles.schemaLocation": str(tmp_path / "loc"),
             "cloudFiles.schemaHints": "`Id` STRING"}  # what bronze passed before: hints only, no schema
    with pytest.raises(standin.StandInError, match="CF_EMPTY_DIR_FOR_SCHEMA_INFERENCE"):
        standin._schema_columns(empty, "csv", hints)
    (empty / "a.csv").write_text("Id,Steps\n1,2\n")
    assert standin._schema_columns(empty, "csv", hints) == ["Id", "Steps"]
    (empty / "b.csv").write_text("Id,Steps,Vo2\n1,2,3\n")
    with pytest.raises(standin.StandInError, match="UNKNOWN_FIELD_EXCEPTION.*Vo2"):  # addNewColumns: a stop
        standin._schema_columns(empty, "csv", hints)
    assert standin._schema_columns(empty, "csv", hints) == ["Id", "Steps", "Vo2"]  # the restart goes on


def test_an_empty_landing_volume_is_no_files_yet(spark, dev):
    results = ingest_all(spark, dev, names=["daily_steps", "activity"])  # raised CF_EMPTY_DIR... before
    assert [(r["source"], r["rows"], r.get("error")) for r in results] == [("daily_steps", 0, None), ("activity", 0, None)]
    assert delta_io.read(spark, dev.table("bronze", "daily_steps")).count() == 0  # the table exists, empty


def test_a_new_column_lands_in_rescued_data_then_becomes_a_column_without_a_stop(spark, dev):
    _land(dev, "fitbit/2023-04-01/dailySteps_merged.csv", "Id,ActivityDay,StepTotal\n1,4/1/2023,100\n")
    first = ingest_source(spark, dev, "daily_steps")
    assert (first["rows"], first["new_columns"]) == (1, [])
    _land(dev, "fitbit/2023-04-02/dailySteps_merged.csv", "StepTotal,Id,ActivityDay,Floors\n200,1,4/2/2023,7\n")
    second = ingest_source(spark, dev, "daily_steps")  # addNewColumns would stop here and fail the day's run
    assert (second["rows"], second["rescued_rows"], second["new_columns"]) == (1, 1, ["Floors"])
    _land(dev, "fitbit/2023-04-03/dailySteps_merged.csv", "Id,ActivityDay,StepTotal,Floors\n1,4/3/2023,300,9\n")
    third = ingest_source(spark, dev, "daily_steps")
    assert (third["rows"], third["rescued_rows"], third["new_columns"]) == (1, 0, [])
    rows = {r["ActivityDay"]: r for r in delta_io.read(spark, dev.table("bronze", "daily_steps")).collect()}
    assert rows["4/2/2023"]["StepTotal"] == "200" and rows["4/2/2023"]["_rescued_data"] == '{"Floors":"7"}'
    assert rows["4/3/2023"]["Floors"] == "9" and rows["4/3/2023"]["_line"] == 2  # by name, with line numbers
    assert ingest_source(spark, dev, "daily_steps")["rows"] == 0  # a rerun reads no file twice
