"""Spark's own CSV reader for the landing files that need nothing more: the same bronze rows, about 5x cheaper.

``parse.py`` reads every file whole and splits and maps its lines in SQL, which any file can take (quotes, blank
lines, damaged bytes, a header on line 3). Most files are plain: UTF-8 text, the header on line 1, one record per
line, no quotes, no blank lines. For those, Spark's CSV reader gives exactly the rows ``parse.py`` gives (the
equivalence is tested, file by file, on the real export, the fixture landing and edge cases):

* ``plain_header`` decides on the driver, from the file's bytes, whether a file is plain, and returns its header;
  every other file keeps the whole-file parser. Checked: a ``.csv`` name (not compressed); valid UTF-8 without U+FFFD or NUL; no ``"``; no CR that is
  not followed by LF; no line made only of whitespace (the reader skips those, which would shift line numbers);
  no line over ``MAX_LINE`` bytes (the reader's column limit); a header that ``parse.py`` would use (a known
  column, each name once, read through ``headers.canonical_names``) and that holds no ``/`` (dates are scanned by
  value, below); a delimiter that cannot be part of a date or a time.
* Files with the same header are read together, each file one partition, so the row's position in its partition
  is its record number and ``_line`` is that + 2 (the header is line 1). Only files and header groups large
  enough to repay a task per file and one more job (``plain_groups``) take this path.
* ``_date_format`` (``formats.with_date_format``) comes from a first, cheap pass: the distinct values that hold a
  ``/`` per file, joined by newlines. A date or time cannot span the delimiter, and the regexes see a delimiter and
  a newline alike, so this text gives the same format as the file's whole text. The same pass checks that every
  file started its own partition (else the group goes to the whole-file parser).
* A record with more or fewer fields than its header is the reader's malformed record: its line goes to
  ``_corrupt_record`` and its values are null, as in ``parse.py``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fitlake.bronze.formats import DATE_FORMAT, with_date_format
from fitlake.bronze.headers import canonical_names
from fitlake.bronze.landing_scan import literal_path
from fitlake.bronze.parse import CORRUPT, LINE, RESCUED, SOURCE_FILE, SOURCE_MODIFIED, bronze_columns

MAX_FILE_BYTES = 256 << 20  # below READ_CONF's maxPartitionBytes: never split between partitions
MAX_LINE = 20_000  # the reader stops at 20,480 columns per record
PLAIN_DELIMITERS = frozenset(",;\t|")
# One file per partition: Spark packs files into a partition up to maxPartitionBytes, counting openCostInBytes per
# file (so a file alone exceeds it), and splits files larger than maxPartitionBytes.
READ_CONF = {"spark.sql.files.openCostInBytes": str(1 << 40), "spark.sql.files.maxPartitionBytes": str(512 << 20)}
# Worth it only where rows outweigh the fixed cost: a task per file and one more Spark job per header. Smaller
# files and groups (one day's delivery, 2,000 one-row files) keep the whole-file parser, which packs files.
MIN_FILE_BYTES = 128 << 10
MIN_GROUP_BYTES = 8 << 20

_BOM = b"\xef\xbb\xbf"
_REPLACEMENT = "\ufffd".encode()
_ROW_BITS = (1 << 33) - 1  # monotonically_increasing_id: partition id << 33 | the row's position in its partition
_MID, _VALUE, _TEXT = "_plain_mid", "_plain_value", "_plain_text"


def plain_header(path: str, delimiter: str, columns: Sequence[str]) -> tuple[str, ...] | None:
    """The raw header names of a file Spark's CSV reader reads exactly as ``parse.py`` does; None for any other."""
    if delimiter not in PLAIN_DELIMITERS or not path.lower().endswith(".csv"):  # `.csv.gz`: Hadoop decompresses
        return None
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:  # a pipe would block the open
            return None
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None  # the whole-file parser reports it
    if not data or len(data) > MAX_FILE_BYTES or b'"' in data or b"\x00" in data or _REPLACEMENT in data:
        return None
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    body = data[len(_BOM):] if data.startswith(_BOM) else data
    if not _one_record_per_line(body):
        return None
    header_line = body.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    if "/" in header_line:
        return None
    names = header_line.split(delimiter)
    canonical = canonical_names(names, columns)
    if len(set(canonical)) != len(canonical) or not set(canonical) & set(columns):
        return None
    return tuple(names)


def plain_groups(paths: Sequence[str], delimiter: str, columns: Sequence[str]) -> dict[tuple[str, ...], list[str]]:
    """The plain files of ``paths`` worth the CSV reader, by header (``MIN_FILE_BYTES``, ``MIN_GROUP_BYTES``)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    sizes: dict[tuple[str, ...], int] = {}
    for p in paths:
        try:
            size = os.path.getsize(p)
        except OSError:
            continue
        if size < MIN_FILE_BYTES:
            continue
        names = plain_header(p, delimiter, columns)
        if names is not None:
            groups.setdefault(names, []).append(p)
            sizes[names] = sizes.get(names, 0) + size
    return {names: group for names, group in groups.items() if sizes[names] >= MIN_GROUP_BYTES}


def _one_record_per_line(body: bytes) -> bool:
    """No line is empty or only whitespace (a final newline ends the last line) and none is over ``MAX_LINE``."""
    arr = np.frombuffer(body, dtype=np.uint8)
    breaks = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(arr)]))
    if ends[-1] == starts[-1]:  # the empty segment after a final newline
        starts, ends = starts[:-1], ends[:-1]
    if len(starts) == 0 or int((ends - starts).max()) > MAX_LINE:
        return False
    first = arr[np.minimum(starts, len(arr) - 1)]
    suspects = np.flatnonzero((ends == starts) | (first <= 0x20))
    return all(body[starts[i]:ends[i]].strip(b"\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12"
                                              b"\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ") for i in suspects)


def _reader(spark, names: Sequence[str], delimiter: str, paths: Sequence[str]) -> DataFrame:
    schema = T.StructType([T.StructField(f"_c{i}", T.StringType()) for i in range(len(names))]
                          + [T.StructField(CORRUPT, T.StringType())])
    return (
        spark.read.schema(schema)
        .option("header", "true")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("sep", delimiter)
        .option("quote", "")  # no quotes in a plain file: quoting off
        .option("encoding", "UTF-8")
        .csv([literal_path(p) for p in paths])
        .select("*", F.monotonically_increasing_id().alias(_MID))
    )


def date_formats(spark, names: Sequence[str], delimiter: str, paths: Sequence[str]) -> dict[str, str | None] | None:
    """file URI -> its ``_date_format``, from the distinct values that hold a ``/``; None if some file did not
    start its own partition (its line numbers would be wrong: the caller reads those files whole)."""
    df = _reader(spark, names, delimiter, paths)
    values = F.filter(F.array(*[F.col(f"_c{i}") for i in range(len(names))], F.col(CORRUPT)),
                      lambda v: F.instr(v, "/") > 0)
    per_value = (
        df.select(F.col("_metadata.file_path").alias(SOURCE_FILE), F.col(_MID), F.explode_outer(values).alias(_VALUE))
        .groupBy(SOURCE_FILE, _VALUE).agg(F.min(_MID).alias(_MID))
    )
    per_file = (
        per_value.groupBy(SOURCE_FILE)
        .agg(F.min(_MID).alias(_MID), F.concat_ws("\n", F.collect_list(_VALUE)).alias(_TEXT))
        .transform(with_date_format(_TEXT))
    )
    out = {}
    for row in per_file.collect():
        if int(row[_MID]) & _ROW_BITS:
            return None
        out[row[SOURCE_FILE]] = row[DATE_FORMAT]
    return out


def read_plain(spark, names: Sequence[str], delimiter: str, columns: Sequence[str], paths: Sequence[str],
               formats: dict[str, str | None]) -> DataFrame:
    """The bronze rows (``parse.bronze_columns``) of plain files that share the header ``names``.

    Run the read (and ``date_formats``) under ``READ_CONF``."""
    canonical = canonical_names(list(names), columns)
    position = {c: i for i, c in enumerate(canonical)}
    ok = F.col(CORRUPT).isNull()
    unknown = [i for i, c in enumerate(canonical) if c not in set(columns)]
    rescued = (
        F.when(ok, F.to_json(F.create_map(*[x for i in unknown for x in (F.lit(canonical[i]), F.col(f"_c{i}"))])))
        if unknown else F.lit(None).cast("string")
    )
    fmt = _lookup(formats)
    values = [
        (F.when(ok, F.col(f"_c{position[c]}")) if c in position else F.lit(None).cast("string")).alias(c)
        for c in columns
    ]
    return _reader(spark, names, delimiter, paths).select(
        *values,
        rescued.alias(RESCUED),
        F.col(CORRUPT),
        F.col("_metadata.file_path").alias(SOURCE_FILE),
        F.col("_metadata.file_modification_time").alias(SOURCE_MODIFIED),
        ((F.col(_MID).bitwiseAND(F.lit(_ROW_BITS))) + 2).cast("int").alias(LINE),
        fmt(F.col("_metadata.file_path")).alias(DATE_FORMAT),
    ).select(*bronze_columns(columns))


def _lookup(formats: dict[str, str | None]):
    known = {k: v for k, v in formats.items() if v is not None}
    if not known:
        return lambda _file: F.lit(None).cast("string")
    mapping = F.create_map(*[F.lit(x) for kv in known.items() for x in kv])
    return lambda file: F.try_element_at(mapping, file)
