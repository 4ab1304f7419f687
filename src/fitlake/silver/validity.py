"""The validity rules of fitlake, one per KIND of column, defined once and shared by batch silver and the stream.

A silver column names its check kind in its spec (``Col(..., check="id")``); every table that carries a column of
that kind gets the same rule, under the same name pattern, so an id ``0`` or ``-5`` is refused in every table that
has ids, and a heart rate of 400 in every table that has heart rates. Date and timestamp columns get the clock rules
from their parse kind (no spec can forget them); doubles are finite by construction (``parsing.parse`` refuses
``NaN``, ``Infinity`` and overflowing literals such as ``1e999``, so they fail ``<col>_parses_exactly``).

Conditions are SQL text (``{c}`` is the column); a row passes when the condition is TRUE, so null fails unless the
column is optional. ``condition(kind, column)`` returns a Column for DataFrame code (the streaming job uses it).

Clock rules: no date after today (UTC, the session time zone) and none before ``EARLIEST_DATE`` (2000-01-01: the
floor below which a tracker reading cannot be real — consumer step trackers with data export date from the late
2000s — and where epoch-0 / year-1 / two-digit-year misreads land).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

Rule = tuple[str, str]

EARLIEST_DATE = "2000-01-01"
MAX_STEPS_PER_DAY = 100_000
MAX_STEPS_PER_HOUR = 20_000
MAX_CALORIES_PER_DAY = 20_000
MAX_CALORIES_PER_HOUR = 2_000
MINUTES_PER_DAY = 1440
MAX_HEART_RATE = 250  # exclusive
MAX_DISTANCE_KM_PER_DAY = 500
ACTIVITY_TYPES = ("walking", "running", "cycling", "swimming", "yoga", "gym_workout", "hiking")


@dataclass(frozen=True)
class Check:
    """One rule for a kind of column: ``rule`` and ``condition`` are templates over the column name ``{c}``."""

    rule: str
    condition: str

    def for_column(self, column: str, nullable: bool = False) -> Rule:
        cond = self.condition.format(c=f"`{column}`")
        return self.rule.format(c=column), f"`{column}` IS NULL OR ({cond})" if nullable else cond


def _between(low, high) -> Check:
    return Check("{c}_in_range", f"{{c}} BETWEEN {low} AND {high}")


CHECKS: dict[str, Check] = {
    "id": Check("{c}_positive", "{c} > 0"),
    "steps_per_day": _between(0, MAX_STEPS_PER_DAY),
    "steps_per_hour": _between(0, MAX_STEPS_PER_HOUR),
    "calories_per_day": _between(0, MAX_CALORIES_PER_DAY),
    "calories_per_hour": _between(0, MAX_CALORIES_PER_HOUR),
    "minutes_per_day": _between(0, MINUTES_PER_DAY),
    "distance_km": _between(0, MAX_DISTANCE_KM_PER_DAY),
    "hours_per_day": _between(0, 24),
    "heart_rate": Check("heart_rate_in_range", f"{{c}} > 0 AND {{c}} < {MAX_HEART_RATE}"),
    "sleep_records_per_day": _between(1, 24),
    "intensity_per_hour": _between(0, 180),
    "average_intensity": _between(0, 3),
    "weight_kg": _between(20, 400),
    "weight_pounds": _between(44, 882),
    "body_fat_percent": _between(1, 75),
    "bmi": _between(8, 100),
    "activity_type": Check("activity_type_known", "{c} IN (" + ", ".join(f"'{t}'" for t in ACTIVITY_TYPES) + ")"),
}
"""Check kind -> its one rule. Add a kind here, name it in the specs: every table with such a column gets it."""

DATE_CHECKS: tuple[Check, ...] = (
    Check("{c}_not_in_future", "{c} <= current_date()"),
    Check(f"{{c}}_not_before_{EARLIEST_DATE[:4]}", f"{{c}} >= DATE'{EARLIEST_DATE}'"),
)
"""The clock rules of every date / timestamp column (applied to its calendar date, in the session time zone)."""


def column_rules(column: str, check: str | None, nullable: bool = False) -> list[Rule]:
    """The rule of ``check`` for ``column`` (none when ``check`` is None)."""
    if check is None:
        return []
    if check not in CHECKS:
        raise ValueError(f"Unknown check kind {check!r}: choose one of {', '.join(sorted(CHECKS))}")
    return [CHECKS[check].for_column(column, nullable)]


def date_rules(column: str, is_timestamp: bool = False) -> list[Rule]:
    """Not in the future, not before ``EARLIEST_DATE``; for a timestamp, on its date."""
    out = []
    for check in DATE_CHECKS:
        name = check.rule.format(c=column)
        target = f"to_date(`{column}`)" if is_timestamp else f"`{column}`"
        out.append((name, check.condition.format(c=target)))
    return out


def condition(check: str, column: str, nullable: bool = False) -> Column:
    """``check``'s rule as a Column over the column named ``column``: TRUE = valid, null counts as invalid unless
    ``nullable``. For DataFrame code such as the streaming job's event rules (type the column first, e.g. with
    ``parsing.parse``, then ``~condition(...)`` is its failure)."""
    _, cond = column_rules(column, check, nullable)[0]
    return F.coalesce(F.expr(cond), F.lit(False))


def date_condition(column: str, is_timestamp: bool = True) -> Column:
    """Both clock rules of ``column`` as one Column (TRUE = plausible date, null = invalid)."""
    ok = F.lit(True)
    for _, cond in date_rules(column, is_timestamp):
        ok = ok & F.expr(cond)
    return F.coalesce(ok, F.lit(False))
