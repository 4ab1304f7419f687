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


def clean_text(raw: Column) -> Column:
    """Trimmed text; empty means missing (CSV writes a missing value as an empty field)."""
    trimmed = F.trim(raw.cast("string"))
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def finite(value: Column) -> Column:
    """``value`` when it is a finite number, else null: NaN and +/-Infinity are never data. The regex above already
    refuses the words ``NaN`` / ``Infinity``; this also catches a literal that overflows (``1e999``)."""
    v = value.cast("double")
    return F.when(~F.isnan(v) & (F.abs(v) != F.lit(float("inf"))), value)


def _matches(text: Column, kind: str) -> Column:
    return F.regexp_like(text, F.lit(_PATTERNS[kind]))


def _fitbit_datetime(text: Column, kind: str, order: Column) -> Column:
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
        twelve = text.endswith("M") | text.endswith("m")
        seconds = F.when(twelve, F.substring(text, -9, 1)).otherwise(F.substring(text, -6, 1)) == F.lit(":")
    out = None
    for o in ("M/d", "d/M"):
        if kind == "fitbit_date":
            value = F.to_date(F.try_to_timestamp(text, F.lit(f"{o}/yyyy")))
        else:
            def at(time: str, date: str = o) -> Column:
                return F.try_to_timestamp(text, F.lit(f"{date}/yyyy {time}"))

            value = F.when(twelve, F.when(seconds, at("h:mm:ss a")).otherwise(at("h:mm a"))).otherwise(
                F.when(seconds, at("H:mm:ss")).otherwise(at("H:mm")))
        out = (out.when if out is not None else F.when)(order == o, value)
    return F.when(_matches(text, kind), out)


def parse(raw: Column, kind: str, order: Column | None = None) -> Column:
    """Typed value of ``raw`` as ``kind``, or null when ``raw`` is missing or not exactly in that format.

    ``order``: for the Fitbit date kinds, the date order of the value's file (``fitlake.bronze.formats.file_order``);
    without it, month-first as Fitbit writes."""
    return parse_text(clean_text(raw), kind, order)


def parse_text(text: Column, kind: str, order: Column | None = None) -> Column:
    """``parse`` of a value already cleaned (``clean_text``): a column computed once and read by each of the
    parse's several uses of it (no common subexpressions are shared in interpreted plans)."""
    if kind in ("fitbit_date", "fitbit_timestamp"):
        return _fitbit_datetime(text, kind, F.lit("M/d") if order is None else order)
    if kind == "string":
        return text
    if kind in ("int", "bigint"):
        return F.when(_matches(text, kind), text.try_cast(kind))
    if kind == "double":
        return finite(F.when(_matches(text, kind), text.try_cast(kind)))
    if kind == "boolean":
        # the text matched true/false/1/0 in any case, so its first letter says which; not lower(): Spark's
        # lower() maps case with ICU, whose data cost ~1-2 CPU s to load on its first use in a JVM
        return F.when(_matches(text, kind), F.substring(text, 1, 1).isin("t", "T", "1"))
    if kind == "iso_date":
        return F.when(_matches(text, kind), F.to_date(F.try_to_timestamp(text, F.lit(ISO_DATE))))
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
