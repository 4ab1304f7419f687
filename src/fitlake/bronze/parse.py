"""Pure transforms that turn whole landing files (one row per file) into bronze rows, with built-in functions only.

Spark's CSV/JSON readers drop fields that are not in the schema and map CSV columns by position, so we parse the
text ourselves: every line is mapped to its own file's header (CSV) or its own keys (JSON) by name. Values of
known columns become STRING columns, everything else goes to ``_rescued_data`` as a JSON object, and a line that
cannot be mapped at all is kept whole in ``_corrupt_record``. Nothing is dropped except blank lines and a CSV
file's header line. Local batches read plain CSV files with Spark's reader instead (``plain_csv``: same rows).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fitlake.bronze.formats import DATE_FORMAT, with_date_format
from fitlake.bronze.headers import canonical_header
from fitlake.sqltext import array_literal, identifier, string_literal

RESCUED = "_rescued_data"
CORRUPT = "_corrupt_record"
SOURCE_FILE = "_source_file"
SOURCE_MODIFIED = "_source_file_modified"
LINE = "_line"
INGESTED_AT = "_ingested_at"
BATCH_ID = "_batch_id"
# the file's date format as its own values show it (``fitlake.bronze.formats``); the same on every row of a file
META_COLUMNS = (RESCUED, CORRUPT, SOURCE_FILE, SOURCE_MODIFIED, LINE, DATE_FORMAT, INGESTED_AT, BATCH_ID)

# Java's decoder turns bytes that are not UTF-8 into U+FFFD: such a line is not trustworthy text.
REPLACEMENT_CHAR = "\ufffd"
_LINE_BREAK = r"\r\n|\r|\n"
_JSON_OBJECT = "map<string,string>"

# Working columns between the steps below.
_LINES = "_lines"
_TEXT = "_text"
_HEADER = "_header"
_RAW_HEADER = "_raw_header"
_SPLIT_HEADER = "_split_header"
_HEADER_LINE = "_header_line"
_HEADER_OK = "_header_ok"
_KNOWN_AT = "_known_at"
_UNKNOWN_AT = "_unknown_at"
_KEYS = "_keys"

Transform = Callable[[DataFrame], DataFrame]


def bronze_columns(columns: Sequence[str]) -> list[str]:
    """The column order every parser returns (``_ingested_at`` and ``_batch_id`` are added by the writer)."""
    return [*columns, RESCUED, CORRUPT, SOURCE_FILE, SOURCE_MODIFIED, LINE, DATE_FORMAT]


def with_file_lines(text_col: str = "value") -> Transform:
    """Split a whole file into ``_lines`` (CRLF, LF or CR), dropping a leading UTF-8 BOM."""

    def _(df: DataFrame) -> DataFrame:
        text = F.regexp_replace(F.col(text_col), "^\ufeff", "")
        return df.select(*_all_but(df, text_col), F.split(text, _LINE_BREAK, -1).alias(_LINES))

    return _


def with_csv_header(columns: Sequence[str], delimiter: str = ",") -> Transform:
    """The file's first non-blank line is its header; usable only if it names a known column, each name once.

    Names are first mapped to the known columns they stand for (``fitlake.bronze.headers``: another export
    version's name, other case or spacing). A header that shares no known column is a wrong delimiter or no header
    at all: its lines become corrupt rows.
    """
    known = _literal_array(columns)

    def _(df: DataFrame) -> DataFrame:
        # The header line and its split are columns of their own, referenced by name: inline, their expressions
        # were copied into each place that reads them, and an interpreted plan evaluates every copy.
        raw_header = F.col(_RAW_HEADER)
        first = df.select("*", F.try_element_at(F.filter(F.col(_LINES), lambda x: F.trim(x) != ""), F.lit(1)).alias(
            _RAW_HEADER))
        split = first.select("*", F.expr(split_delimited(_RAW_HEADER, delimiter)).alias(_SPLIT_HEADER))
        with_header = split.select(
            *_all_but(split, _RAW_HEADER, _SPLIT_HEADER),
            F.expr(canonical_header(_SPLIT_HEADER, columns)).alias(_HEADER),
            F.array_position(F.col(_LINES), raw_header).cast("int").alias(_HEADER_LINE),
        )
        header = F.col(_HEADER)
        usable = F.arrays_overlap(header, known) & (F.size(F.array_distinct(header)) == F.size(header))
        positions = F.sequence(F.lit(1), F.greatest(F.size(header), F.lit(1)))
        return with_header.select(
            "*",
            F.coalesce(usable, F.lit(False)).alias(_HEADER_OK),
            # Once per file, not per line: where each known column sits in this header (0 = absent), and the
            # positions of the names we do not know (for ``_rescued_data``).
            F.expr("array(" + ", ".join(f"CAST(array_position({_HEADER}, {string_literal(c)}) AS INT)"
                                        for c in columns) + ")").alias(_KNOWN_AT),
            F.filter(positions, lambda i: ~F.array_contains(known, F.try_element_at(header, i))).alias(_UNKNOWN_AT),
        )

    return _


def explode_lines(df: DataFrame) -> DataFrame:
    """One row per non-blank line: ``_text`` and its 1-based ``_line`` number in the file."""
    exploded = df.select("*", F.posexplode(F.col(_LINES)).alias("_pos", _TEXT)).where(F.trim(F.col(_TEXT)) != "")
    return exploded.select(*_all_but(exploded, "_pos", _LINES), (F.col("_pos") + 1).cast("int").alias(LINE))


def split_delimited(text: str, delimiter: str = ",") -> str:
    """SQL: split one CSV line (``text``, a SQL expression); a field in double quotes may hold the delimiter and
    ``""`` for a quote."""
    delim = re.escape(delimiter)
    plain = f"split({text}, {string_literal(delim)}, -1)"
    outside = string_literal(delim + '(?=(?:[^"]*"[^"]*")*[^"]*$)')
    outside_quotes = f"split({text}, {outside}, -1)"
    quoted = string_literal('^"[\\s\\S]*"$')
    inner = string_literal('^"([\\s\\S]*)"$')
    unquoted = (f"transform({outside_quotes}, _f -> CASE WHEN _f RLIKE {quoted}"
                f" THEN replace(regexp_extract(_f, {inner}, 1), '\"\"', '\"') ELSE _f END)")
    return f"CASE WHEN instr({text}, '\"') > 0 THEN {unquoted} ELSE {plain} END"


def parse_csv_records(columns: Sequence[str], delimiter: str = ",") -> Transform:
    """Map each data line to its file's header by name; a line whose field count differs is corrupt.

    Per line only the split and one array lookup per column: the header positions come from ``with_csv_header``.
    """

    # SQL text: one Py4J call per expression, not a dozen
    is_header = f"{_HEADER_OK} AND {LINE} = {_HEADER_LINE}"
    mappable = (f"coalesce({_HEADER_OK} AND size(_fields) = size({_HEADER})"
                f" AND NOT contains({_TEXT}, {string_literal(REPLACEMENT_CHAR)}), false)")
    values = [f"CASE WHEN _ok AND {_KNOWN_AT}[{n}] > 0 THEN nullif(try_element_at(_fields, {_KNOWN_AT}[{n}]), '') END"
              for n in range(len(columns))]
    rescued = (f"CASE WHEN _ok AND size({_UNKNOWN_AT}) > 0 THEN to_json(map_from_arrays("
               f"transform({_UNKNOWN_AT}, _i -> try_element_at({_HEADER}, _i)),"
               f" transform({_UNKNOWN_AT}, _i -> nullif(try_element_at(_fields, _i), '')))) END")

    def _(df: DataFrame) -> DataFrame:
        return (
            df.where(F.expr(f"NOT ({is_header})"))
            .select("*", F.expr(split_delimited(_TEXT, delimiter)).alias("_fields"))
            .select("*", F.expr(mappable).alias("_ok"))
            .select(
                *[F.expr(v).alias(c) for v, c in zip(values, columns)],
                F.expr(rescued).alias(RESCUED),
                F.expr(f"CASE WHEN NOT _ok THEN {_TEXT} END").alias(CORRUPT),
                F.col(SOURCE_FILE),
                F.col(SOURCE_MODIFIED),
                F.col(LINE),
                F.col(DATE_FORMAT),
            )
        )

    return _


def parse_json_records(columns: Sequence[str]) -> Transform:
    """Each line must be one JSON object with distinct keys; values keep their JSON text (numbers, booleans)."""

    def _(df: DataFrame) -> DataFrame:
        # The keys once per line, in a column of their own: the test below reads them three times, and a plan run
        # interpreted (the stream's) shares no subexpression, so inline they were parsed three times.
        keys = F.col(_KEYS)
        mappable = (
            keys.isNotNull()
            & (F.size(F.array_distinct(keys)) == F.size(keys))
            & ~F.col(_TEXT).contains(REPLACEMENT_CHAR)
        )
        record = F.when(mappable, F.from_json(F.col(_TEXT), _JSON_OBJECT))
        return df.withColumn(_KEYS, F.json_object_keys(F.col(_TEXT))).transform(_project_record(record, columns))

    return _


def _project_record(record: Column, columns: Sequence[str]) -> Transform:
    """Known keys -> columns, other keys -> ``_rescued_data``; no record -> the raw line in ``_corrupt_record``."""
    known = _literal_array(columns)

    def _(df: DataFrame) -> DataFrame:
        with_record = df.withColumn("_record", record)
        rescued = F.map_filter(F.col("_record"), lambda k, _v: ~F.array_contains(known, k))
        return with_record.select(
            *[F.col("_record").getItem(c).alias(c) for c in columns],
            F.when(F.size(rescued) > 0, F.to_json(rescued)).alias(RESCUED),
            F.when(F.col("_record").isNull(), F.col(_TEXT)).alias(CORRUPT),
            F.col(SOURCE_FILE),
            F.col(SOURCE_MODIFIED),
            F.col(LINE),
            F.col(DATE_FORMAT),
        )

    return _


def parse_landing_files(fmt: str, columns: Sequence[str], delimiter: str = ",", text_col: str = "value") -> Transform:
    """Whole files (``value``, ``_source_file``, ``_source_file_modified``) -> bronze rows."""
    if not columns:
        raise ValueError("a bronze source needs at least one expected column")
    fmt_is_csv = fmt == "csv"
    if fmt == "csv":
        steps = [with_csv_header(columns, delimiter), explode_lines, parse_csv_records(columns, delimiter)]
    elif fmt == "json":
        steps = [explode_lines, parse_json_records(columns)]
    else:
        raise ValueError(f"unknown landing format {fmt!r}")

    def _(df: DataFrame) -> DataFrame:
        # once per file, from its whole text: what its dates show (JSON sources carry ISO dates: none here)
        dated = df.transform(with_date_format(text_col)) if fmt_is_csv else df.withColumn(
            DATE_FORMAT, F.lit(None).cast("string"))
        out = dated.transform(with_file_lines(text_col))
        for step in steps:
            out = out.transform(step)
        return out

    return _


def _all_but(df: DataFrame, *names: str) -> list[Column]:
    """Every column of ``df`` but ``names``, in order: a ``select`` that drops and adds in one operation."""
    return [F.col(identifier(c)) for c in df.columns if c not in names]


def _literal_array(values: Sequence[str]) -> Column:
    return F.expr(array_literal(values))
