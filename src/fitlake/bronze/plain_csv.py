"""Spark's own CSV reader for the landing files that need nothing more: the same bronze rows, about 5x cheaper.

``parse.py`` reads every file whole and splits and maps its lines in SQL, which any file can take (quotes, blank
lines, damaged bytes, a header on line 3). Most files are plain: UTF-8 text, the header on line 1, one record per
line, no quotes, no blank lines. For those, Spark's CSV reader gives exactly the rows ``parse.py`` gives (the
equivalence is tested, file by file, on the real export, the fixture landing and edge cases):

* ``plain_file`` decides on the driver, from the file's bytes, whether a file is plain, and returns its header;
  every other file keeps the whole-file parser. Checked: a ``.csv`` name (not compressed); valid UTF-8 without
  U+FFFD or NUL; no ``"``; no CR that is not followed by LF; no line made only of whitespace (the reader skips
  those, which would shift line numbers); no line over ``MAX_LINE`` bytes (the reader's column limit); a header
  that ``parse.py`` would use (a known column, each name once, read through ``headers.canonical_names``) and that
  holds no ``/`` (dates are scanned by value, below); a delimiter that cannot be part of a date or a time.
* Files with the same header and date format are read together, each file one partition (``READ_CONF``), so
  the row's position in its partition is its record number and ``_line`` is that + 2 (the header is line 1); the
  rows are then coalesced into a few partitions for the write. Only groups large enough to repay a task per
  file (``plain_groups``: many bytes in all, or large files) take this path; while they are read, the other
  files also get a task each.
* ``_date_format`` is ``formats.with_date_format`` of the file's distinct values that hold a ``/``, joined by
  newlines, found on the driver from the same bytes (``slash_values``) and evaluated in one small Spark job for all
  files. A date or time cannot span the delimiter, and the regexes see a delimiter and a newline alike, so this
  text gives the same format as the file's whole text.
* A record with more or fewer fields than its header is the reader's malformed record: its line goes to
  ``_corrupt_record`` and its values are null, as in ``parse.py``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fitlake.bronze.formats import DATE_FORMAT, with_date_format
from fitlake.bronze.headers import canonical_names
from fitlake.bronze.landing_scan import literal_path
from fitlake.bronze.parse import CORRUPT, LINE, RESCUED, SOURCE_FILE, SOURCE_MODIFIED, bronze_columns
from fitlake.spark import session_conf
from fitlake.frames import local_frame

MAX_FILE_BYTES = 256 << 20  # below READ_CONF's maxPartitionBytes: never split between partitions
MAX_LINE = 20_000  # the reader stops at 20,480 columns per record
PLAIN_DELIMITERS = frozenset(",;\t|")
# One file per partition: Spark packs files into a partition up to maxPartitionBytes, counting openCostInBytes per
# file (so a file alone exceeds it), and splits files larger than maxPartitionBytes.
READ_CONF = {"spark.sql.files.openCostInBytes": str(1 << 40), "spark.sql.files.maxPartitionBytes": str(512 << 20)}
# the paths are files we listed: listing them needs no Spark job (Spark's default: one task per path above 32)
SERIAL_LISTING = {"spark.sql.sources.parallelPartitionDiscovery.threshold": str(1 << 30)}
# Worth it only where rows outweigh the fixed cost (a task per file, ~10 ms): a group of at least MIN_GROUP_BYTES,
# or of files of MIN_FILE_BYTES on average (one day's hourly file, ~1.7 MB and 47,000 rows at B1 1x, costs less
# read by the CSV reader than parsed whole). Groups of many small files (one day's delivery of 2,000 one-row files)
# keep the whole-file parser, which packs files into few tasks.
MIN_GROUP_BYTES = 8 << 20
MIN_FILE_BYTES = 1 << 20

_BOM = b"\xef\xbb\xbf"
_REPLACEMENT = "\ufffd".encode()
_ROW_BITS = (1 << 33) - 1  # monotonically_increasing_id: partition id << 33 | the row's position in its partition
_MID = "_plain_mid"
_WHITESPACE = bytes(range(1, 0x21))  # what the CSV reader trims before skipping a line as blank (NUL: not plain)


@dataclass(frozen=True)
class PlainFile:
    path: str
    names: tuple[str, ...]  # the raw header names
    size: int
    slash_text: str  # the distinct values holding a ``/``, newline-joined: what its date format is read from


def plain_file(path: str, delimiter: str, columns: Sequence[str]) -> PlainFile | None:
    """A file Spark's CSV reader reads exactly as ``parse.py`` does, with its header; None for any other."""
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
    if not data or len(data) > MAX_FILE_BYTES or b'"' in data or b"\x00" in data:
        return None
    if not data.isascii():  # ASCII holds no U+FFFD and decodes: both checked only for other text
        if _REPLACEMENT in data:
            return None
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    body = data[len(_BOM):] if data.startswith(_BOM) else data
    arr = np.frombuffer(body, dtype=np.uint8)
    if not _one_record_per_line(body, arr):
        return None
    header_line = body.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    if "/" in header_line:
        return None
    names = header_line.split(delimiter)
    canonical = canonical_names(names, columns)
    if len(set(canonical)) != len(canonical) or not set(canonical) & set(columns):
        return None
    values = sorted(slash_values(body, arr, delimiter))
    return PlainFile(path, tuple(names), len(data), "\n".join(v.decode("utf-8") for v in values))


def plain_groups(spark, paths: Sequence[str], delimiter: str,
                 columns: Sequence[str]) -> dict[tuple[tuple[str, ...], str | None], list[PlainFile]]:
    """The plain files of ``paths`` worth the CSV reader (``MIN_GROUP_BYTES`` per header, or ``MIN_FILE_BYTES`` per
    file on average), grouped by header and ``_date_format``; the formats come from one small Spark job."""
    by_header: dict[tuple[str, ...], list[PlainFile]] = {}
    for p in paths:
        f = plain_file(p, delimiter, columns)
        if f is not None:
            by_header.setdefault(f.names, []).append(f)
    files = [f for group in by_header.values() if _worth_a_task_per_file(group) for f in group]
    if not files:
        return {}
    texts = local_frame(spark, [(i, f.slash_text) for i, f in enumerate(files)], "i INT, t STRING")
    formats = {r["i"]: r[DATE_FORMAT] for r in texts.transform(with_date_format("t")).select("i", DATE_FORMAT).collect()}
    groups: dict[tuple[tuple[str, ...], str | None], list[PlainFile]] = {}
    for i, f in enumerate(files):
        groups.setdefault((f.names, formats[i]), []).append(f)
    return groups


def _worth_a_task_per_file(group: list[PlainFile]) -> bool:
    total = sum(f.size for f in group)
    return total >= MIN_GROUP_BYTES or total >= MIN_FILE_BYTES * len(group)


def slash_values(body: bytes, arr: np.ndarray, delimiter: str) -> set[bytes]:
    """The distinct fields of ``body`` (split at the delimiter and line breaks) that hold a ``/``: the fields found
    by numpy, deduplicated by a set of their bytes (one hourly file has ~47,000 such fields and ~24 distinct ones;
    a set of slices takes about half the time of deduplicating them in numpy)."""
    slashes = np.flatnonzero(arr == 0x2F)
    if len(slashes) == 0:
        return set()
    bounds = np.flatnonzero((arr == ord(delimiter)) | (arr == 10) | (arr == 13))
    padded = np.concatenate(([-1], bounds, [len(arr)]))
    k = np.searchsorted(bounds, slashes)  # sorted: the field of each slash
    k = k[np.concatenate(([True], k[1:] != k[:-1]))]
    return {body[a:b] for a, b in zip((padded[k] + 1).tolist(), padded[k + 1].tolist())}


def _one_record_per_line(body: bytes, arr: np.ndarray) -> bool:
    """No line is empty or only whitespace (a final newline ends the last line) and none is over ``MAX_LINE``."""
    breaks = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(arr)]))
    if ends[-1] == starts[-1]:  # the empty segment after a final newline
        starts, ends = starts[:-1], ends[:-1]
    if len(starts) == 0 or int((ends - starts).max()) > MAX_LINE:
        return False
    first = arr[np.minimum(starts, len(arr) - 1)]
    suspects = np.flatnonzero((ends == starts) | (first <= 0x20))
    return all(body[starts[i]:ends[i]].strip(_WHITESPACE) for i in suspects)


def _reader(spark, names: Sequence[str], delimiter: str, paths: Sequence[str]) -> DataFrame:
    schema = T.StructType([T.StructField(f"_c{i}", T.StringType()) for i in range(len(names))]
                          + [T.StructField(CORRUPT, T.StringType())])
    with session_conf(spark, SERIAL_LISTING):
        reader = (
            spark.read.schema(schema)
            .option("header", "true")
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT)
            .option("sep", delimiter)
            .option("quote", "")  # no quotes in a plain file: quoting off
            .option("encoding", "UTF-8")
            .csv([literal_path(p) for p in paths])
        )
    return reader.select("*", F.monotonically_increasing_id().alias(_MID))


def read_plain(spark, names: Sequence[str], fmt: str | None, delimiter: str, columns: Sequence[str],
               files: Sequence[PlainFile]) -> DataFrame:
    """The bronze rows (``parse.bronze_columns``) of plain files that share the header ``names`` and the date
    format ``fmt`` (``plain_groups``). Run the action under ``READ_CONF``."""
    canonical = canonical_names(list(names), columns)
    position = {c: i for i, c in enumerate(canonical)}
    ok = F.col(CORRUPT).isNull()
    unknown = [i for i, c in enumerate(canonical) if c not in set(columns)]
    rescued = (
        F.when(ok, F.to_json(F.create_map(*[x for i in unknown for x in (F.lit(canonical[i]), F.col(f"_c{i}"))])))
        if unknown else F.lit(None).cast("string")
    )
    values = [
        (F.when(ok, F.col(f"_c{position[c]}")) if c in position else F.lit(None).cast("string")).alias(c)
        for c in columns
    ]
    rows = _reader(spark, names, delimiter, [f.path for f in files]).select(
        *values,
        rescued.alias(RESCUED),
        F.col(CORRUPT),
        F.col("_metadata.file_path").alias(SOURCE_FILE),
        F.col("_metadata.file_modification_time").alias(SOURCE_MODIFIED),
        ((F.col(_MID).bitwiseAND(F.lit(_ROW_BITS))) + 2).cast("int").alias(LINE),
        F.lit(fmt).cast("string").alias(DATE_FORMAT),
    ).select(*bronze_columns(columns))
    # The row numbers are taken per file partition above; the write needs no partition (and no file) per input.
    total = sum(f.size for f in files)
    return rows.coalesce(max(spark.sparkContext.defaultParallelism, -(-total // (128 << 20))))
