"""Every silver quality rule, in one place: per table an ordered list of ``(rule_name, sql_condition)``.

A row passes a rule when the condition is TRUE (null fails); a failing row goes to ``quarantine.<table>`` with the
name of the FIRST rule it fails, so order matters: record-level problems first, then missing values, then formats,
then each column's own check, then the clock rules, then the rules that relate several columns. Everything but the
last group is derived from the column specs in ``specs.py`` and the one-rule-per-column-kind table in
``validity.py``, so every table that carries a kind of column gets the same rule for it. Non-wear days are flagged
in silver, not rules here. Two rules need more than one row and are applied by the job itself:
``conflicting_values_in_delivery`` (``transforms.with_delivery_conflicts``) and ``stale_redelivery``
(``merge.classify_changes``).
"""

from __future__ import annotations

from fitlake.silver.specs import SPECS, SilverSpec
from fitlake.silver.transforms import text_column
from fitlake.silver.validity import MINUTES_PER_DAY, Rule, column_rules, date_rules

CONFLICT_RULE = "conflicting_values_in_delivery"
STALE_RULE = "stale_redelivery"
_DATE_KINDS = {"fitbit_date": False, "iso_date": False, "fitbit_timestamp": True}


def _text(c) -> str:
    """The column's raw field as cleaned text (trimmed, empty = null), as ``transforms.with_typed_columns`` keeps it
    for these rules."""
    return f"`{text_column(c.source)}`"


def generic_rules(spec: SilverSpec) -> list[Rule]:
    """Rules every table gets from its column specs: a parseable record, required fields, exact formats."""
    rules: list[Rule] = [("not_corrupt_record", "_raw._corrupt_record IS NULL")]
    for c in spec.columns:
        if c.required:
            rules.append((f"{c.name}_not_null", f"{_text(c)} IS NOT NULL"))
    rules += damage_rules(spec)
    for c in spec.columns:
        rules.append((f"{c.name}_parses_exactly", f"{_text(c)} IS NULL OR {c.name} IS NOT NULL"))
    return rules


def damage_rules(spec: SilverSpec) -> list[Rule]:
    """What a spreadsheet's re-save does that no setting can undo, named for what happened (before the generic
    ``_parses_exactly``): an id rewritten in scientific notation (its digits are gone), dates whose file does not
    decide day or month first (set ``date_order``, ``fitlake run --date-order``), or decides both ways."""
    rules: list[Rule] = []
    for c in spec.columns:
        text = _text(c)
        if c.check == "id":
            # the regex only where an exponent can be: it backtracks over every plain id's digits (profile: 7 of
            # the 35 CPU s typing 8.6 M hourly rows took); a text without e/E never matches, so the rule is the same
            lost = f"(({text} LIKE '%e%' OR {text} LIKE '%E%') AND {text} RLIKE '^[-+]?[0-9]*[.]?[0-9]+[eE][-+]?[0-9]+$')"
            rules.append((f"{c.name}_scientific_notation_digits_lost", f"NOT coalesce({lost}, false)"))
        if c.kind in ("fitbit_date", "fitbit_timestamp"):
            rules.append((f"{c.name}_date_order_undecided_set_date_order", f"{text} IS NULL OR _date_order <> '?/?'"))
            rules.append((f"{c.name}_date_order_conflicting_in_file", f"{text} IS NULL OR _date_order <> '!/!'"))
    return rules


def column_checks(spec: SilverSpec) -> list[Rule]:
    """Each column's kind rule (ids positive, ranges), then every date column's clock rules."""
    rules = [r for c in spec.columns for r in column_rules(c.name, c.check, nullable=not c.required)]
    for c in spec.columns:
        if c.kind in _DATE_KINDS:
            rules += date_rules(c.name, _DATE_KINDS[c.kind])
    return rules


_MINUTES = ("very_active_minutes", "fairly_active_minutes", "lightly_active_minutes", "sedentary_minutes")

CROSS_COLUMN_RULES: dict[str, list[Rule]] = {
    "daily_activity": [("minutes_sum_within_day", " + ".join(_MINUTES) + f" <= {MINUTES_PER_DAY}")],
    "daily_intensities": [("minutes_sum_within_day", " + ".join(_MINUTES) + f" <= {MINUTES_PER_DAY}")],
    "sleep_day": [("asleep_not_more_than_in_bed", "total_minutes_asleep <= total_time_in_bed")],
}
"""Rules that relate several columns of one row (the only per-table rules)."""


def rules_for(table: str) -> list[Rule]:
    """The ordered rules of one silver table."""
    spec = SPECS[table]
    return generic_rules(spec) + column_checks(spec) + CROSS_COLUMN_RULES.get(table, [])


RULES: dict[str, list[Rule]] = {name: rules_for(name) for name in SPECS}
