"""Exact parsers for the raw text in bronze: a value that does not match its format becomes null (and the row is
quarantined by the ``*_parses`` expectation), never an exception and never a guess.

Doubles must be finite: ``NaN``, ``Infinity`` (any spelling) and literals beyond the double range parse to null.
The streaming job shares ``parse`` and ``finite`` for its event fields.

Spark 4 runs with ANSI mode on, so every cast here is a ``try_*``; the regex check comes first because Spark's
``M/d/yyyy`` pattern would otherwise also accept e.g. ``4/12/16`` as year 16.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fitlake.sqltext import identifier, string_literal

FITBIT_DATE = "M/d/yyyy"
FITBIT_TIMESTAMP = "M/d/yyyy h:mm:ss a"
ISO_DATE = "yyyy-MM-dd"

_PATTERNS = {
    "fitbit_date": r"^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$",
    # seconds or not, 12-hour (AM/PM) or 24-hour clock: each value shows which (``fitbit.bronze.formats``)
    "fitbit_timestamp": r"^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4} [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?( [AaPp][Mm])?$",
    "iso_date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "int": r"^-?[0-9]{1,10}$",
    "bigint": r"^-?[0-9]{1,19}$",
    "double": r"^-?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$",
    "boolean": r"^(?i)(true|false|1|0)$",  # a spreadsheet writes TRUE / FALSE, some tools 1 / 0
}

KINDS = ("string", "int", "bigint", "double", "boolean", "fitbit_date", "fitbit_timestamp", "iso_date")


# Every builder below writes SQL text over SQL operands (a column's quoted name, another builder's text): a silver
# table's typing is then one ``F.expr`` per column, where the same expressions built from ``functions`` calls took
# ~30 Py4J round trips per column, every run.


def clean_text(raw: str) -> str:
    """Trimmed text; empty means missing (CSV writes a missing value as an empty field)."""
    trimmed = f"trim(CAST({raw} AS STRING))"
    return f"CASE WHEN {trimmed} = '' THEN NULL ELSE {trimmed} END"


def finite(value: str) -> str:
    """``value`` when it is a finite number, else null: NaN and +/-Infinity are never data. The regex above already
    refuses the words ``NaN`` / ``Infinity``; this also catches a literal that overflows (``1e999``)."""
    v = f"CAST({value} AS DOUBLE)"
    return f"CASE WHEN NOT isnan({v}) AND abs({v}) != CAST('Infinity' AS DOUBLE) THEN {value} END"


def _matches(text: str, kind: str) -> str:
    return f"regexp_like({text}, {string_literal(_PATTERNS[kind])})"


def _fitbit_datetime(text: str, kind: str, order: str) -> str:
    """A Fitbit date or timestamp read in its file's date order (``M/d`` or ``d/M``; anything else: null). The clock
    is the value's own: ``AM``/``PM`` -> 12-hour, none -> 24-hour; seconds optional.

    A timestamp is parsed with the one pattern its shape calls for, each without optional sections: a formatter
    with an optional ``[:ss]`` cost more CPU per value (8.6 M values of B1 1x hourly_steps: 12.4 -> 10.8 CPU s;
    benchmarks/results/silver-typing-2026-12-02-s22.md)."""
    if kind == "fitbit_timestamp":
        # the value matched its pattern, so a last letter M/m is the end of its AM/PM (an ends-with test says
        # 12-hour exactly as a regex would, without a regex search per value), and its seconds are there iff a ':'
        # stands 6 characters from its end (24-hour, `:mm:ss`) or 9 (12-hour, `:mm:ss AM`): the minutes and
        # seconds are two digits each
        twelve = f"(endswith({text}, 'M') OR endswith({text}, 'm'))"
        seconds = f"(CASE WHEN {twelve} THEN substring({text}, -9, 1) ELSE substring({text}, -6, 1) END = ':')"
    branches = []
    for o in ("M/d", "d/M"):
        if kind == "fitbit_date":
            value = f"to_date(try_to_timestamp({text}, {string_literal(o + '/yyyy')}))"
        else:
            def at(time: str, date: str = o) -> str:
                return f"try_to_timestamp({text}, {string_literal(f'{date}/yyyy {time}')})"

            value = (f"CASE WHEN {twelve} THEN (CASE WHEN {seconds} THEN {at('h:mm:ss a')} ELSE {at('h:mm a')} END)"
                     f" ELSE (CASE WHEN {seconds} THEN {at('H:mm:ss')} ELSE {at('H:mm')} END) END")
        branches.append(f"WHEN {order} = {string_literal(o)} THEN {value}")
    return f"CASE WHEN {_matches(text, kind)} THEN (CASE {' '.join(branches)} END) END"


def parse(raw: str, kind: str, order: str | None = None) -> Column:
    """Typed value of the column named ``raw`` as ``kind``, or null when it is missing or not exactly in that format.

    ``order``: for the Fitbit date kinds, the name of a column holding the date order of the value's file
    (``fitlake.bronze.formats.file_order``); without it, month-first as Fitbit writes."""
    return F.expr(parse_text(clean_text(identifier(raw)), kind, None if order is None else identifier(order)))


def parse_text(text: str, kind: str, order: str | None = None) -> str:
    """SQL for ``parse`` of a value already cleaned (``clean_text``): best a column computed once and read by each of
    the parse's several uses of it (no common subexpressions are shared in interpreted plans). ``order``: SQL for
    the file's date order."""
    if kind in ("fitbit_date", "fitbit_timestamp"):
        return _fitbit_datetime(text, kind, "'M/d'" if order is None else order)
    if kind == "string":
        return text
    if kind in ("int", "bigint"):
        return f"CASE WHEN {_matches(text, kind)} THEN try_cast({text} AS {kind.upper()}) END"
    if kind == "double":
        return finite(f"CASE WHEN {_matches(text, kind)} THEN try_cast({text} AS DOUBLE) END")
    if kind == "boolean":
        # the text matched true/false/1/0 in any case, so its first letter says which; not lower(): Spark's
        # lower() maps case with ICU, whose data cost ~1-2 CPU s to load on its first use in a JVM
        return f"CASE WHEN {_matches(text, kind)} THEN substring({text}, 1, 1) IN ('t', 'T', '1') END"
    if kind == "iso_date":
        iso = f"to_date(try_to_timestamp({text}, {string_literal(ISO_DATE)}))"
        return f"CASE WHEN {_matches(text, kind)} THEN {iso} END"
    raise ValueError(f"Unknown column kind {kind!r}: choose one of {', '.join(KINDS)}")


SPARK_TYPES = {
    "string": "string",
    "int": "int",
    "bigint": "bigint",
    "double": "double",
    "boolean": "boolean",
    "fitbit_date": "date",
    "fitbit_timestamp": "timestamp",
    "iso_date": "date",
}
