"""How complete each silver table came out of a run: the share of its rows in that reached silver, and a loud
warning for a table whose quarantined share is above ``Settings.max_quarantine_share`` (a damaged export, a setting
to make). Quarantined rows are data, not failure: the run still exits 0 unless ``fitlake run --strict``."""

from __future__ import annotations


def over_threshold(silver: list, max_share: float) -> list:
    """The tables (``TableCounts``) whose quarantined share of this run's rows is above ``max_share``."""
    return [c for c in silver if c.rows_in and c.quarantined_total / c.rows_in > max_share]


def completeness_lines(silver: list, max_share: float) -> list[str]:
    active = [c for c in silver if c.rows_in]
    if not active:
        return []
    lines = ["completeness per table (rows in this run that reached silver; the rest are in quarantine.<table>):"]
    for c in active:
        kept = 1 - c.quarantined_total / c.rows_in
        lines.append(f"  silver.{c.table:<26}{kept:>8.1%}  ({c.quarantined_total} of {c.rows_in} quarantined)")
    for c in over_threshold(active, max_share):
        top = ", ".join(f"{r} {n}" for r, n in sorted(c.quarantined.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"WARNING: silver.{c.table} quarantined {c.quarantined_total / c.rows_in:.0%} of its rows "
                     f"(above max_quarantine_share {max_share:.0%}): {top}; gold built from it is incomplete "
                     f"(see quarantine.{c.table}; `fitlake run --strict` fails the run on this)")
    return lines
