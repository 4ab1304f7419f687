"""Misplaced and unknown landing files are reported with what to do; `fitlake import` puts an export in place.
Plain files only: no Spark."""

from __future__ import annotations

import zipfile

import pytest

from fitlake import cli
from fitlake.bronze.landing_report import format_notes, known_file, landing_notes
from fitlake.import_export import ExportImportError, import_export

FULL_EXPORT = [  # every file of a full Fitbit export (Fitabase / Kaggle), as named there
    "dailyActivity_merged.csv", "dailyCalories_merged.csv", "dailyIntensities_merged.csv", "dailySteps_merged.csv",
    "heartrate_seconds_merged.csv", "hourlyCalories_merged.csv", "hourlyIntensities_merged.csv",
    "hourlySteps_merged.csv", "minuteCaloriesNarrow_merged.csv", "minuteCaloriesWide_merged.csv",
    "minuteIntensitiesNarrow_merged.csv", "minuteIntensitiesWide_merged.csv", "minuteMETsNarrow_merged.csv",
    "minuteSleep_merged.csv", "minuteStepsNarrow_merged.csv", "minuteStepsWide_merged.csv", "sleepDay_merged.csv",
    "weightLogInfo_merged.csv",
]


def test_every_file_of_a_full_export_has_a_source():
    assert [f for f in FULL_EXPORT if not known_file(f"fitbit/export/{f}")] == []
    assert not known_file("dailyActivity_merged.csv")  # directly under landing/: never read
    assert not known_file("fitbit/export/notes.csv")


def test_misplaced_and_unknown_files_are_reported_with_what_to_do(tmp_path):
    landing = tmp_path / "landing"
    (landing / "fitbit" / "2016-04").mkdir(parents=True)
    for f in ("dailyActivity_merged.csv", "sleepDay_merged.csv"):
        (landing / f).write_text("Id\n")
    (landing / "fitbit" / "2016-04" / "dailySteps_merged.csv").write_text("Id\n")
    (landing / "fitbit" / "2016-04" / "myNotes.csv").write_text("x\n")
    (landing / "my export").mkdir()
    (landing / "my export" / "hourlySteps_merged.csv").write_text("Id\n")
    (landing / "_manifest.json").write_text("{}")  # hidden: not a warning
    notes = landing_notes(landing)
    assert notes[0] == ("WARNING: 2 file(s) directly under landing/ are not read: put a Fitbit export in "
                        "landing/fitbit/<name>/ (`fitlake import PATH` does it, from a folder or a .zip)")
    assert notes[1:3] == ["  dailyActivity_merged.csv", "  sleepDay_merged.csv"]
    assert notes[3].startswith("WARNING: 2 landing file(s) match no source")
    assert notes[4:] == ["  fitbit/2016-04/myNotes.csv", "  my export/hourlySteps_merged.csv"]
    assert landing_notes(tmp_path / "nothing") == []


def test_format_notes_name_the_setting_for_undecided_files():
    formats = [("hourly_steps", "file:/l/a.csv", "M/d/yyyy h:mm:ss a"), ("daily_steps", "file:/l/b.csv", "?/?/yyyy"),
               ("sleep_day", "file:/l/c.csv", "!/!/yyyy H:mm")]
    text = "\n".join(format_notes(formats, None))
    assert "M/d/yyyy h:mm:ss a" in text and "1 file(s)" in text
    assert "set --date-order month_first|day_first" in text and "bronze.daily_steps: file:/l/b.csv" in text
    assert "both month-first and day-first" in text and "bronze.sleep_day: file:/l/c.csv" in text
    assert "read as day_first" in "\n".join(format_notes(formats, "day_first"))


def _export(folder):
    for period in ("Fitabase Data 3.12.16-4.11.16", "Fitabase Data 4.12.16-5.12.16"):
        (folder / period).mkdir(parents=True)
        for f in ("dailyActivity_merged.csv", "minuteSleep_merged.csv"):
            (folder / period / f).write_text("Id\r\n1\r\n")
    (folder / "README.txt").write_text("not data")
    (folder / ".DS_Store").write_text("x")


def test_import_a_folder_and_a_zip(tmp_path):
    src = tmp_path / "mturkfitbit_export"
    _export(src)
    landing = tmp_path / "landing"
    target, files = import_export(src, landing)
    assert target == landing / "fitbit" / "mturkfitbit_export"
    assert sorted(files) == sorted(f"Fitabase Data {p}/{f}" for p in ("3.12.16-4.11.16", "4.12.16-5.12.16")
                                   for f in ("dailyActivity_merged.csv", "minuteSleep_merged.csv"))
    assert all(known_file(f"fitbit/mturkfitbit_export/{f}") for f in files)
    assert landing_notes(landing) == []
    with pytest.raises(ExportImportError, match="already exists"):
        import_export(src, landing)
    archive = tmp_path / "fitbit export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("export/dailySteps_merged.csv", "Id\r\n1\r\n")
        z.writestr("../../evil.csv", "x")  # never written outside the target
        z.writestr("__MACOSX/export/._dailySteps_merged.csv", "x")
    target, files = import_export(archive, landing, name="2016-04")
    assert target == landing / "fitbit" / "2016-04" and files == ["export/dailySteps_merged.csv"]
    assert not (tmp_path / "evil.csv").exists() and not list(landing.rglob("evil.csv"))
    assert not list((landing / "fitbit").glob(".import-*"))  # the staging folder is gone
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ExportImportError, match="no .csv"):
        import_export(empty, landing)
    assert not (landing / "fitbit" / "empty").exists()


def test_import_command_end_to_end(tmp_path, capsys):
    src = tmp_path / "exp"
    _export(src)
    code = cli.main(["import", str(src), "--root", str(tmp_path / "lake"), "--name", "mine"])
    out = capsys.readouterr().out
    assert code == 0 and "imported 4 CSV file(s)" in out
    assert (tmp_path / "lake" / "landing" / "fitbit" / "mine" / "Fitabase Data 4.12.16-5.12.16").is_dir()
    assert cli.main(["import", str(src), "--root", str(tmp_path / "lake"), "--name", "mine"]) == 2
