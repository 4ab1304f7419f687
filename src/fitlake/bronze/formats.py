"""Per-file date format detection: decided from the file's own unambiguous values, never guessed.

A spreadsheet that opens and re-saves a Fitbit export may write its dates day-first (``12/04/2016 00:00`` for
12 April), drop the seconds, switch to a 24-hour clock or zero-pad the day, file by file. So bronze records, for
every CSV file, what its date values show (``_date_format`` on each of its rows), and silver reads each value with
its own file's order:

* the order comes from values only one order can read: ``4/13/2016`` is month-first (there is no month 13),
  ``13/04/2016`` is day-first. A value neither order can read (``4/31/2016``) or both can (``4/12/2016``) says
  nothing. Votes for both orders in one file: the file contradicts itself (``!/!``). No vote at all (every day of
  the file is 12 or less): undecided (``?/?``), and silver uses the user's ``date_order`` setting or quarantines
  the value with a reason that names that setting;
* the clock and the seconds are visible in every value (``AM``/``PM`` or not, ``:ss`` or not): recorded per file
  for the run summary (each variant seen), and each value is read by what it shows.

``_date_format`` is the file's Spark pattern, e.g. ``M/d/yyyy h:mm:ss a``, ``d/M/yyyy H:mm``, ``?/?/yyyy H:mm``
(undecided), ``M/d/yyyy h:mm:ss a|H:mm`` (two clock variants in one file); null for a file without such dates.
Computed once per file from its whole text (one distinct-dates scan, one ``rlike`` per time variant), before the
file is split into lines.
"""

from __future__ import annotations

from typing import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fitlake.sqltext import identifier, string_literal

DATE_FORMAT = "_date_format"

MONTH_FIRST, DAY_FIRST, UNDECIDED, CONFLICTING = "M/d", "d/M", "?/?", "!/!"
ORDERS = {"month_first": MONTH_FIRST, "day_first": DAY_FIRST}  # the user's ``date_order`` setting -> order
LEGACY_ORDER = MONTH_FIRST  # bronze rows written before detection existed: Fitbit's own export order

_DATE = r"(?<![0-9/])[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}(?![0-9/])"
_AFTER_DATE = r"(?<![0-9/])[0-9]{1,2}/[0-9]{1,2}/[0-9]{4} [0-9]{1,2}:[0-9]{2}"
_AMPM = r" [AaPp][Mm](?![A-Za-z])"
# each time variant a file may show, as a Spark pattern fragment -> the regex that finds one value written so
_TIME_VARIANTS = (
    ("h:mm:ss a", _AFTER_DATE + r":[0-9]{2}" + _AMPM),
    ("h:mm a", _AFTER_DATE + r"(?![0-9:])" + _AMPM),
    ("H:mm:ss", _AFTER_DATE + r":[0-9]{2}(?![0-9])(?!" + _AMPM + ")"),
    ("H:mm", _AFTER_DATE + r"(?![0-9:])(?!" + _AMPM + ")"),
)


# The builders below write SQL text: each is one ``F.expr`` (one Py4J call) where the same expression built from
# ``functions`` calls took ~130 calls per file source, run after run.
def _readable(date: str, pattern: str) -> str:
    return f"try_to_timestamp({date}, {string_literal(pattern)}) IS NOT NULL"


def distinct_dates(text: str) -> str:
    """Every distinct ``d/d/dddd`` date in the SQL expression ``text`` (one scan)."""
    return f"array_distinct(regexp_extract_all({text}, {string_literal(_DATE)}, 0))"


def date_order(dates: str) -> str:
    """``M/d``, ``d/M``, ``?/?`` (no value decides) or ``!/!`` (values decide both ways) from a file's
    ``distinct_dates`` (a SQL expression); null: no dates."""
    month_only = f"size(filter({dates}, d -> {_readable('d', 'M/d/yyyy')} AND NOT {_readable('d', 'd/M/yyyy')}))"
    day_only = f"size(filter({dates}, d -> {_readable('d', 'd/M/yyyy')} AND NOT {_readable('d', 'M/d/yyyy')}))"
    return (f"CASE WHEN size({dates}) = 0 THEN CAST(NULL AS STRING)"
            f" WHEN {month_only} > 0 AND {day_only} > 0 THEN {string_literal(CONFLICTING)}"
            f" WHEN {month_only} > 0 THEN {string_literal(MONTH_FIRST)}"
            f" WHEN {day_only} > 0 THEN {string_literal(DAY_FIRST)}"
            f" ELSE {string_literal(UNDECIDED)} END")


def time_variants(text: str) -> str:
    """The time notations the file's dates carry, ``|``-joined in a fixed order; empty for dates without times."""
    seen = [f"CASE WHEN regexp_like({text}, {string_literal(regex)}) THEN {string_literal(name)} END"
            for name, regex in _TIME_VARIANTS]
    return f"concat_ws('|', {', '.join(seen)})"


_DATES, _ORDER, _TIMES = "_fmt_dates", "_fmt_order", "_fmt_times"


def with_date_format(text_col: str = "value") -> Callable[[DataFrame], DataFrame]:
    """Add the file's ``_date_format`` (see the module doc) from its whole text in ``text_col``.

    Each scan of the text is its own column, computed once: written as one expression, Spark evaluated the date
    scan once per place it is used (five), which was most of bronze's CPU on hourly files. Three projections (the
    scans, the order, the format)."""
    text = identifier(text_col)
    fmt = (f"CASE WHEN {_ORDER} IS NOT NULL THEN concat({_ORDER}, '/yyyy',"
           f" CASE WHEN {_TIMES} != '' THEN concat(' ', {_TIMES}) ELSE '' END) END")

    def _(df: DataFrame) -> DataFrame:
        kept = [F.col(identifier(c)) for c in df.columns]
        scanned = df.select(*kept, F.expr(distinct_dates(text)).alias(_DATES),
                            F.expr(time_variants(text)).alias(_TIMES))
        ordered = scanned.select(*kept, F.col(_TIMES), F.expr(date_order(_DATES)).alias(_ORDER))
        return ordered.select(*kept, F.expr(fmt).alias(DATE_FORMAT))

    return _


def file_order(fmt: Column, setting: str | None = None) -> Column:
    """The order to read a file's values with: its own, else (undecided) the ``date_order`` setting, else
    ``?/?``; ``!/!`` stays. A row without ``_date_format`` (older bronze, or a file with no such dates) reads as
    Fitbit writes."""
    own = F.coalesce(F.substring(fmt, 1, 3), F.lit(LEGACY_ORDER))
    if setting is None:
        return own
    if setting not in ORDERS:
        raise ValueError(f"date_order must be one of {', '.join(ORDERS)}, not {setting!r}")
    return F.when(own == UNDECIDED, F.lit(ORDERS[setting])).otherwise(own)
