"""Spark's CSV reader for plain files (``bronze.plain_csv``): the same rows as the whole-file parser, or not used."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from urllib.parse import unquote

import pytest

from deltalake import DeltaTable

from fitlake.bronze import ingest_source, local_batch, plain_csv
from fitlake.bronze.sources import SOURCES
from fitlake.config import Settings
from fitlake.spark import session_conf

HOURLY = SOURCES["hourly_calories"]
COLUMNS = list(HOURLY.columns)  # Id, ActivityHour, Calories
KAGGLE = Path(__file__).resolve().parents[2].parent / "shared/datasets/fitbit-kaggle/2016-04-12_2016-05-12"

# plain files whose rows must equal the whole-file parser's, line numbers and date formats included
PLAIN = {
    "crlf.csv": b"Id,ActivityHour,Calories\r\n1,4/12/2016 1:00:00 AM,81\r\n1,4/13/2016 2:00:00 PM,0\r\n",
    "lf_no_final_newline.csv": b"Id,ActivityHour,Calories\n1,13/04/2016 13:00,81\n2,14/04/2016 09:00,",
    "bom_and_variant_names.csv": "\ufeffid,Activity Hour,calories\n7,4/1/2016 1:00:00 AM,5\n".encode(),
    "short_long_and_empty_records.csv": b"Id,ActivityHour,Calories\n1,2\n1,2,3,4\n,,\n3,4/30/2016 3:00 PM,9\n",
    "unknown_columns_rescued.csv": b"Extra,Id,Note,ActivityHour,Calories\nx,1,,4/2/2016 1:00:00 AM,3\n,2,n,,\n",
    "missing_column.csv": b"Id,ActivityHour\n1,4/2/2016 1:00:00 AM\n",
    "header_again_and_hash.csv": b"Id,ActivityHour,Calories\nId,ActivityHour,Calories\n#1,x, 3 \n",
    "dates_in_other_columns.csv": b"Id,ActivityHour,Calories\n5/30/2016,x,4/13/2016 10:00\n",
    "utf8_text.csv": "Id,ActivityHour,Calories\nJosé,4/12/2016 1:00:00 AM,8\n".encode(),
    "header_only.csv": b"Id,ActivityHour,Calories\n",
}

# files the CSV reader would read differently (or not at all): each must go to the whole-file parser
NOT_PLAIN = {
    "quotes.csv": b'Id,ActivityHour,Calories\n1,"4/12/2016 1:00:00 AM",8\n',
    "blank_line.csv": b"Id,ActivityHour,Calories\n1,a,2\n\n1,b,3\n",
    "whitespace_line.csv": b"Id,ActivityHour,Calories\n1,a,2\n  \t\n1,b,3\n",
    "blank_line_at_end.csv": b"Id,ActivityHour,Calories\n1,a,2\r\n\r\n",
    "leading_blank_line.csv": b"\nId,ActivityHour,Calories\n1,a,2\n",
    "lone_cr.csv": b"Id,ActivityHour,Calories\r1,a,2\r",
    "not_utf8.csv": b"Id,ActivityHour,Calories\n1,\xe9t\xe9,2\n",
    "replacement_char.csv": "Id,ActivityHour,Calories\n1,\ufffd,2\n".encode(),
    "nul.csv": b"Id,ActivityHour,Calories\n1,a\x00,2\n",
    "long_line.csv": b"Id,ActivityHour,Calories\n" + b"1," * 15_000 + b"\n",
    "no_known_column.csv": b"a,b,c\n1,2,3\n",
    "duplicate_names.csv": b"Id,ActivityHour,Id\n1,2,3\n",
    "date_in_header.csv": b"Id,ActivityHour,Calories 4/1/2016\n1,a,2\n",
    "wrong_delimiter.csv": b"Id;ActivityHour;Calories\n1;a;2\n",
    "empty.csv": b"",
    "compressed.csv.gz": gzip.compress(b"Id,ActivityHour,Calories\n1,a,2\n"),
}


def _write(folder: Path, files: dict[str, bytes]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [str(folder / name) for name in files]


def _plain_rows(spark, paths, columns, delimiter=",", conf=plain_csv.READ_CONF):
    """The fast path's rows of ``paths`` (all plain, whatever their size), read like ``local_batch.read_files``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plain_csv, "MIN_GROUP_BYTES", 0)
        groups = plain_csv.plain_groups(spark, paths, delimiter, columns)
    assert sorted(f.path for group in groups.values() for f in group) == sorted(paths), "every file here is plain"
    rows = []
    with session_conf(spark, conf):
        for (names, fmt), group in groups.items():
            rows += plain_csv.read_plain(spark, names, fmt, delimiter, columns, group).collect()
    return rows


def _whole_file_rows(spark, source, paths, columns):
    return local_batch._read_whole_files(spark, source, columns, paths).collect()


def _plan(df) -> str:
    return df._jdf.queryExecution().optimizedPlan().toString().lower()


def _key(row):
    return tuple("" if v is None else str(v) for v in row)


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_files_the_csv_reader_would_misread_are_not_plain(tmp_path, name):
    (path,) = _write(tmp_path, {name: NOT_PLAIN[name]})
    assert plain_csv.plain_file(path, ",", COLUMNS) is None


def test_plain_files_give_exactly_the_rows_of_the_whole_file_parser(spark, tmp_path):
    paths = _write(tmp_path / "odd [name] {1}", PLAIN)
    fast, whole = _plain_rows(spark, paths, COLUMNS), _whole_file_rows(spark, HOURLY, paths, COLUMNS)
    assert sorted(map(_key, fast)) == sorted(map(_key, whole))
    by_line = {(Path(r["_source_file"]).name, r["_line"]): r for r in fast}
    short = by_line[("short_long_and_empty_records.csv", 2)]
    assert short["_corrupt_record"] == "1,2" and short["Id"] is None  # a malformed record keeps its line, no values
    assert by_line[("short_long_and_empty_records.csv", 5)]["_date_format"] == "M/d/yyyy h:mm a"
    assert by_line[("lf_no_final_newline.csv", 3)]["_date_format"] == "d/M/yyyy H:mm"
    assert by_line[("unknown_columns_rescued.csv", 2)]["_rescued_data"] == '{"Extra":"x","Note":null}'


def test_the_real_export_reads_the_same_through_either_parser(spark):
    csvs = sorted(KAGGLE.glob("*.csv"))
    assert len(csvs) >= 9
    checked = 0
    for name, source in SOURCES.items():
        stem = source.glob.split("_merged")[0]
        paths = [str(p) for p in csvs if p.name.startswith(stem + "_merged")]
        if source.format != "csv" or not paths:
            continue
        fast = _plain_rows(spark, paths, list(source.columns), source.delimiter)
        whole = _whole_file_rows(spark, source, paths, list(source.columns))
        assert len(fast) == len(whole) > 0, name
        assert sorted(map(_key, fast)) == sorted(map(_key, whole)), name
        checked += 1
    assert checked >= 9


def test_each_file_keeps_its_own_partition_however_spark_would_pack_them(spark, tmp_path):
    paths = _write(tmp_path, {"a.csv": PLAIN["crlf.csv"], "b.csv": PLAIN["crlf.csv"], "c.csv": PLAIN["crlf.csv"]})
    whole = sorted(map(_key, _whole_file_rows(spark, HOURLY, paths, COLUMNS)))
    # Spark packs small files into one partition when the input is large per core (forced here): without
    # READ_CONF, b's and c's row numbers would continue a's
    packed = {"spark.sql.files.openCostInBytes": "0", "spark.sql.files.minPartitionNum": "1"}
    assert sorted(map(_key, _plain_rows(spark, paths, COLUMNS, conf=packed))) != whole
    with session_conf(spark, packed):
        assert sorted(map(_key, _plain_rows(spark, paths, COLUMNS))) == whole


def test_ingest_reads_plain_and_other_files_together(spark, tmp_path, monkeypatch):
    paths = _write(tmp_path, {"plain.csv": PLAIN["crlf.csv"], "quoted.csv": NOT_PLAIN["quotes.csv"],
                              "blank.csv": NOT_PLAIN["blank_line.csv"]})
    small, conf = local_batch.read_files(spark, HOURLY, COLUMNS, paths, 0)
    assert conf == {} and "] csv" not in _plan(small)  # too small for the CSV reader: all read whole
    monkeypatch.setattr(plain_csv, "MIN_GROUP_BYTES", 0)
    df, conf = local_batch.read_files(spark, HOURLY, COLUMNS, paths, 0)
    assert conf == plain_csv.READ_CONF and "] csv" in _plan(df)
    with session_conf(spark, conf):
        rows = df.collect()
    lines = sorted((Path(r["_source_file"]).name, r["_line"], r["Calories"]) for r in rows)
    assert lines == [("blank.csv", 2, "2"), ("blank.csv", 4, "3"), ("plain.csv", 2, "81"), ("plain.csv", 3, "0"),
                     ("quoted.csv", 2, "8")]


def test_a_group_takes_the_csv_reader_for_its_bytes_in_all_or_its_large_files(spark, tmp_path, monkeypatch):
    """A task per file pays off over many bytes in all (MIN_GROUP_BYTES) or over large files (MIN_FILE_BYTES on
    average, e.g. one day's hourly file); many small files of one header stay with the whole-file parser."""
    large = PLAIN["crlf.csv"] + b"2,4/14/2016 3:00:00 PM,5\r\n" * 20
    small = PLAIN["crlf.csv"]
    monkeypatch.setattr(plain_csv, "MIN_GROUP_BYTES", 10 * len(large))
    monkeypatch.setattr(plain_csv, "MIN_FILE_BYTES", len(large))
    one_large = _write(tmp_path / "one", {"large.csv": large})
    many_small = _write(tmp_path / "many", {f"{i}.csv": small for i in range(5)})
    mixed = _write(tmp_path / "mixed", {"large.csv": large, **{f"{i}.csv": small for i in range(3)}})

    def taken(paths):
        return sorted(Path(f.path).name for g in plain_csv.plain_groups(spark, paths, ",", COLUMNS).values() for f in g)

    assert taken(one_large) == ["large.csv"]
    assert taken(many_small) == []
    assert taken(mixed) == []  # the small files pull the average below MIN_FILE_BYTES
    monkeypatch.setattr(plain_csv, "MIN_GROUP_BYTES", 5 * len(small))
    assert taken(many_small) == [f"{i}.csv" for i in range(5)]


def test_a_landing_of_plain_and_other_files_ingests_once_with_counts(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(plain_csv, "MIN_GROUP_BYTES", 0)
    settings = Settings(root=tmp_path / "lake", landing=tmp_path / "landing [x]")
    day = settings.landing_dir / "fitbit" / "2016-04-12"
    _write(day, {"hourlyCalories_merged.csv": PLAIN["short_long_and_empty_records.csv"],
                 "hourlyCalories_merged (2).csv": PLAIN["unknown_columns_rescued.csv"],
                 "hourlyCalories_merged (quoted).csv": NOT_PLAIN["quotes.csv"],
                 "hourlyCalories_merged (gz).csv.gz": NOT_PLAIN["compressed.csv.gz"]})
    os.mkfifo(day / "hourlyCalories_merged (fifo).csv")
    first = ingest_source(spark, settings, "hourly_calories")
    assert (first["files"], first["rows"], first["corrupt_rows"], first["rescued_rows"]) == (4, 8, 2, 0)  # Extra and Note join the schema (inferred from the first files)
    table = DeltaTable(settings.table("bronze", "hourly_calories").path).to_pyarrow_table().to_pylist()
    got = sorted((Path(unquote(r["_source_file"])).name, r["_line"], r["Calories"], r["_corrupt_record"]) for r in table)
    assert got == [
        ("hourlyCalories_merged (2).csv", 2, "3", None),
        ("hourlyCalories_merged (2).csv", 3, None, None),
        ("hourlyCalories_merged (gz).csv.gz", 2, "2", None),
        ("hourlyCalories_merged (quoted).csv", 2, "8", None),
        ("hourlyCalories_merged.csv", 2, None, "1,2"),
        ("hourlyCalories_merged.csv", 3, None, "1,2,3,4"),
        ("hourlyCalories_merged.csv", 4, None, None),
        ("hourlyCalories_merged.csv", 5, "9", None),
    ]
    # each file's date format, as the write observed it (the run summary's formats come from here, not a re-read)
    assert first["formats"] == sorted({(r["_source_file"], r["_date_format"]) for r in table})
    assert len(first["formats"]) == 4
    # file statistics only on the columns bronze is filtered by (writer.BRONZE_PROPERTIES), none on the raw text
    dt = DeltaTable(settings.table("bronze", "hourly_calories").path)
    assert dt.metadata().configuration["delta.dataSkippingStatsColumns"] == "_batch_id,_ingested_at"
    stats = [c for c in dt.get_add_actions(flatten=True).column_names if c.startswith("min.")]
    assert sorted(stats) == ["min._batch_id", "min._ingested_at"]
    version = DeltaTable(settings.table("bronze", "hourly_calories").path).version()
    assert ingest_source(spark, settings, "hourly_calories")["rows"] == 0
    assert DeltaTable(settings.table("bronze", "hourly_calories").path).version() == version
