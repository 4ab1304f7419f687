"""The landing listing on hostile folders (built in tmp at test time: symlinks, FIFOs, failing entries); no Spark.

Tests run as root, for whom chmod 000 changes nothing, so "unreadable" is simulated at the listing's OS edge: the
module's ``os.scandir`` / ``file_sha256`` raise PermissionError for one chosen path (monkeypatch).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from fitlake.bronze import landing_scan
from fitlake.bronze.landing_scan import file_sha256, name_matches, scan_source
from fitlake.bronze.sources import SOURCES

STEPS = SOURCES["daily_steps"]
ROW = b"Id,ActivityDay,StepTotal\r\n1,4/1/2016,5\r\n"


def write(path: Path, data: bytes = ROW) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def reasons(scan) -> dict[str, str]:
    return {s.rel: s.reason for s in scan.skipped}


def test_names_match_case_insensitively_and_gz_is_read_other_compressions_reported():
    assert name_matches("dailySteps_merged.csv", STEPS) == "plain"
    assert name_matches("DAILYSTEPS_MERGED.CSV", STEPS) == "plain"
    assert name_matches("dailySteps_merged.csv.gz", STEPS) == "gz"
    assert name_matches("dailySteps_merged.CSV.GZ", STEPS) == "gz"
    assert name_matches("dailySteps_merged.csv.zip", STEPS) == "unsupported"
    assert name_matches("dailySteps_merged.csv.tmp", STEPS) is None
    assert name_matches("dailyCalories_merged.csv", STEPS) is None


def test_hostile_entries_are_reported_and_never_opened(tmp_path):
    landing = tmp_path / "land ing 'q' ü"
    day = landing / "fitbit" / "2016-04-12"
    write(day / "dailySteps_merged.csv")
    write(day / "DAILYSTEPS_MERGED.CSV")
    write(day / "dailySteps_merged.csv.gz", gzip.compress(ROW))
    write(day / "dailySteps_merged.csv.zip", b"PK")
    write(day / ".dailySteps_merged.csv")  # a hidden / temporary file: Spark's convention, not reported
    write(landing / "fitbit" / ".backup" / "dailySteps_merged.csv")
    write(landing / "fitbit" / "_old" / "deep" / "dailySteps_merged.csv")
    write(landing / "fitbit" / ".git" / "config", b"x")  # a hidden folder with nothing of this source: silent
    outside = write(tmp_path / "secret" / "passwd", b"root:x:0:0\n")
    (day / "dailySteps_merged (passwd).csv").symlink_to(outside)
    (day / "dailySteps_merged (gone).csv").symlink_to(tmp_path / "nowhere.csv")
    (day / "dailySteps_merged (alias).csv").symlink_to(day / "dailySteps_merged.csv")
    (landing / "fitbit" / "linked-outside").symlink_to(outside.parent, target_is_directory=True)
    (landing / "fitbit" / "linked-inside").symlink_to(day, target_is_directory=True)
    os.mkfifo(day / "dailySteps_merged (pipe).csv")

    scan = scan_source(landing, STEPS)  # a FIFO opened for reading would block here forever

    assert [f.rel for f in scan.files] == [
        "fitbit/2016-04-12/DAILYSTEPS_MERGED.CSV",
        "fitbit/2016-04-12/dailySteps_merged (alias).csv",  # a link inside the landing: read under its own path
        "fitbit/2016-04-12/dailySteps_merged.csv",
        "fitbit/2016-04-12/dailySteps_merged.csv.gz",
    ]
    assert reasons(scan) == {
        "fitbit/.backup": "hidden_folder",
        "fitbit/_old": "hidden_folder",
        "fitbit/2016-04-12/dailySteps_merged (gone).csv": "dangling_symlink",
        "fitbit/2016-04-12/dailySteps_merged (passwd).csv": "symlink_outside",
        "fitbit/2016-04-12/dailySteps_merged (pipe).csv": "special_file",
        "fitbit/2016-04-12/dailySteps_merged.csv.zip": "compressed",
        "fitbit/linked-inside": "symlink_folder",
        "fitbit/linked-outside": "symlink_outside",
    }
    detail = {s.rel: s.detail for s in scan.skipped}
    assert "named pipe (FIFO)" in detail["fitbit/2016-04-12/dailySteps_merged (pipe).csv"]
    assert str(outside) in detail["fitbit/2016-04-12/dailySteps_merged (passwd).csv"]
    assert "Rename the folder without the leading '.'" in detail["fitbit/.backup"]
    plain = next(f for f in scan.files if f.rel.endswith("merged.csv"))
    assert (plain.size, plain.sha256) == (len(ROW), file_sha256(str(day / "dailySteps_merged.csv")))


def test_unreadable_file_and_folder_are_reported_and_the_rest_is_listed(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    good = write(landing / "fitbit" / "a" / "dailySteps_merged.csv")
    bad_file = write(landing / "fitbit" / "b" / "dailySteps_merged.csv")
    bad_dir = write(landing / "fitbit" / "c" / "dailySteps_merged.csv").parent

    real_scandir, real_hash = os.scandir, landing_scan.file_sha256

    def scandir(path):
        if Path(path) == bad_dir:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def sha(path, follow=False):
        if Path(path) == bad_file:
            raise PermissionError(13, "Permission denied", str(path))
        return real_hash(path, follow)

    monkeypatch.setattr(landing_scan.os, "scandir", scandir)
    monkeypatch.setattr(landing_scan, "file_sha256", sha)
    scan = scan_source(landing, STEPS)
    assert [f.path for f in scan.files] == [str(good)]
    assert reasons(scan) == {"fitbit/b/dailySteps_merged.csv": "unreadable", "fitbit/c": "unreadable_folder"}
    assert all("Permission denied" in s.detail and "next run" in s.detail for s in scan.skipped)


def test_identity_is_content_not_mtime(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    path = write(landing / "fitbit" / "a" / "dailySteps_merged.csv")
    future = 4_102_444_800  # 2100-01-01
    os.utime(path, (future, future))
    first = scan_source(landing, STEPS).files[0]
    known = {first.rel: first.record()}

    calls = []
    real_hash = landing_scan.file_sha256
    monkeypatch.setattr(landing_scan, "file_sha256", lambda p, follow=False: calls.append(p) or real_hash(p, follow))
    assert scan_source(landing, STEPS, known).files[0].sha256 == first.sha256 and calls == []  # unchanged: cached

    path.write_bytes(ROW + b"2,4/1/2016,6\r\n")  # rewritten in place ...
    os.utime(path, (future, future))  # ... with its old (future) mtime restored: ctime still moves
    again = scan_source(landing, STEPS, known).files[0]
    assert calls and again.sha256 != first.sha256 and again.size > first.size


def test_missing_source_folder_is_no_files(tmp_path):
    scan = scan_source(tmp_path / "nothing", STEPS)
    assert scan.files == [] and scan.skipped == []


def test_open_regular_refuses_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "p.csv"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        landing_scan.open_regular(str(fifo))


def test_a_file_spark_cannot_decode_is_named_with_its_cause_not_a_py4j_object():
    from fitlake.bronze.local_batch import spark_error_message

    py4j = ("An error occurred while calling o1524.count.\n: org.apache.spark.SparkException: Job aborted due to "
            "stage failure: Lost task 0.0 (TID 3) (127.0.0.1 executor driver): java.io.IOException: not a gzip file\n"
            "\tat org.apache.spark.SparkException$.internalError(SparkException.scala:92)\n")
    assert spark_error_message(RuntimeError(py4j)) == "IOException: not a gzip file"
    caused = py4j + "Caused by: java.io.EOFException: Unexpected end of input stream\n\tat x.Y.z(Y.java:1)\n"
    assert spark_error_message(RuntimeError(caused)) == "EOFException: Unexpected end of input stream"
    assert spark_error_message(RuntimeError("plain words")) == "plain words"
    s = landing_scan.skipped("a.csv.gz", "unreadable", "unreadable_content", error="IOException: not a gzip file")
    assert s.reason == "unreadable" and "(IOException: not a gzip file)" in s.detail
    assert "Replace it with a complete copy" in s.detail


# ---- The stream's stager (bronze/local_stream.LandingStager): what Spark's file source may list is only what the
# landing listing accepted, copied; staging is idempotent and survives a kill -9 at any point.

EVENT = b'{"event_id":"e1","user_id":1,"event_time":"2023-04-01T08:00:00Z","steps":1}\n'


def staged_files(stager) -> dict[str, bytes]:
    return {p.relative_to(stager.files).as_posix(): p.read_bytes()
            for p in stager.files.rglob("*") if p.is_file() and not p.name.startswith(".")}


def test_stager_copies_only_accepted_files_and_reports_the_rest(tmp_path):
    from fitlake.bronze.local_stream import LandingStager

    landing, outside = tmp_path / "landing", tmp_path / "outside"
    write(landing / "events/a.json", EVENT)
    write(landing / "events/UPPER.JSON", EVENT.replace(b"e1", b"e2"))
    secret = write(outside / "passwd.json", b"root:x:0:0\n")
    (landing / "events/passwd.json").symlink_to(secret)
    (landing / "events/gone.json").symlink_to(outside / "nothing.json")
    os.mkfifo(landing / "events/pipe.json")
    write(landing / "events/.a.json.tmp", EVENT)  # being written: not yet a delivery
    stager = LandingStager(landing, SOURCES["events"], tmp_path / "cp" / "_fitlake_landing")

    assert stager.stage() == 2
    staged = staged_files(stager)
    assert sorted(p.split("/", 1)[1] for p in staged) == ["events/UPPER.JSON", "events/a.json"]
    assert all(len(p.split("/", 1)[0]) == 16 for p in staged)  # <sha256[:16]>/<landing path>
    assert b"root:x" not in b"".join(staged.values())
    assert {s["path"]: s["reason"] for s in stager.report()} == {
        "events/passwd.json": "symlink_outside", "events/gone.json": "dangling_symlink",
        "events/pipe.json": "special_file"}
    assert stager.accepted == [str(landing / "events/UPPER.JSON"), str(landing / "events/a.json")]

    assert stager.stage() == 0  # nothing new: nothing copied again
    again = LandingStager(landing, SOURCES["events"], tmp_path / "cp" / "_fitlake_landing")  # a restart
    assert again.stage() == 0 and staged_files(again) == staged


def test_stager_hashes_a_file_whose_times_moved_once_not_in_every_pass(tmp_path, monkeypatch):
    """The stream lists its landing every trigger: a staged file whose ctime moved (copied with its times, chmod)
    is hashed by the next pass only, never copied again, and a real change is still staged."""
    from fitlake.bronze.local_stream import LandingStager

    landing = tmp_path / "landing"
    paths = [write(landing / f"events/{n}.json", EVENT.replace(b"e1", n.encode())) for n in ("a", "b")]
    stager = LandingStager(landing, SOURCES["events"], tmp_path / "cp" / "_fitlake_landing")
    assert stager.stage() == 2
    for path in paths:
        os.utime(path, (4_102_444_800, 4_102_444_800))
    hashed = []
    real_hash = landing_scan.file_sha256
    monkeypatch.setattr(landing_scan, "file_sha256", lambda p, follow=False: hashed.append(p) or real_hash(p, follow))
    assert stager.stage() == 0 and sorted(hashed) == sorted(str(p) for p in paths)
    hashed.clear()
    assert stager.stage() == 0 and hashed == []
    paths[0].write_bytes(EVENT.replace(b"e1", b"c"))  # same size, new bytes
    assert stager.stage() == 1 and hashed == [str(paths[0])]


def test_stager_restages_a_rewrite_and_a_copy_a_kill_left_unrecorded(tmp_path):
    from fitlake.bronze.local_stream import LandingStager

    landing = tmp_path / "landing"
    path = write(landing / "events/a.json", EVENT)
    future = 4_102_444_800  # 2100: staged with the staging time at most (the file source would skip later files)
    os.utime(path, (future, future))
    folder = tmp_path / "cp" / "_fitlake_landing"
    stager = LandingStager(landing, SOURCES["events"], folder)
    assert stager.stage() == 1
    first = next(p for p in stager.files.rglob("a.json"))
    assert first.stat().st_mtime < future

    # killed after the rename, before the manifest line: the next run stages it again under the SAME path (the file
    # source has seen that path, so it is not read twice) and records it
    lines = stager.manifest.read_text().splitlines()
    stager.manifest.write_text("")
    write(stager.files / ".tmp-1-0", b"half a cop")  # a kill mid-copy leaves a dot-temp file, never listed
    restarted = LandingStager(landing, SOURCES["events"], folder)
    assert restarted.stage() == 1
    assert [p for p in stager.files.rglob("a.json")] == [first]
    assert restarted.manifest.read_text().splitlines() == lines
    assert not (stager.files / ".tmp-1-0").exists()  # the dead run's half copy is removed
    first.unlink()  # the file source deleted it once its batch was committed (cleanSource)
    assert LandingStager(landing, SOURCES["events"], folder).stage() == 0  # not copied again, its empty folder gone
    assert not first.parent.parent.exists() and restarted.files.is_dir()

    # rewritten in place (same size, mtime put back): new content = new delivery, a new staged path
    st = path.stat()
    path.write_bytes(EVENT.replace(b"e1", b"e9"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert restarted.stage() == 1
    assert [p.read_bytes() for p in stager.files.rglob("a.json")] == [EVENT.replace(b"e1", b"e9")]
