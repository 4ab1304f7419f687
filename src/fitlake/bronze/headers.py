"""Header names as people's exports have them -> the columns a source expects.

A spreadsheet or another Fitbit export version may spell a column differently: other case (``activitydate``),
spaces or underscores (``Activity Date``, ``activity_date``), or another version's name (``ActivityDay`` for
``ActivityDate``, ``sources.HEADER_VARIANTS``). Each header name is mapped to the source column it stands for; an
exact name always wins (a variant of a column the header also names exactly stays as it is), and a name that stands for nothing known stays as it is (it goes to ``_rescued_data``).
The same mapping serves the Spark parser (``canonical_header``) and schema inference (``canonical_names``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fitlake.bronze.sources import HEADER_VARIANTS
from fitlake.sqltext import array_literal, map_literal, string_literal

_IGNORED = r"[\s_\-]"


def normalized(name: str) -> str:
    return re.sub(_IGNORED, "", name.strip()).lower()


def variant_map(columns: Sequence[str]) -> dict[str, str]:
    """normalized header name -> the column of ``columns`` it stands for."""
    out: dict[str, str] = {}
    for c in columns:
        out.setdefault(normalized(c), c)
    for c in columns:
        for group in HEADER_VARIANTS:
            if c in group:
                for other in group:
                    if other not in columns:
                        out.setdefault(normalized(other), c)
    return out


def canonical_names(header: Sequence[str], columns: Sequence[str]) -> list[str]:
    """Python twin of ``canonical_header`` (schema inference reads headers without Spark)."""
    mapping, known, present = variant_map(columns), set(columns), set(header)
    out = []
    for h in header:
        target = h if h in known else mapping.get(normalized(h), h)
        out.append(h if target != h and target in present else target)
    return out


def canonical_header(header: str, columns: Sequence[str]) -> str:
    """SQL: each name of the split header (``header``, a SQL array expression) mapped to the known column it stands
    for."""
    mapping = variant_map(columns)
    if not mapping:
        return header
    key = f"lower(regexp_replace(trim(_n), {string_literal(_IGNORED)}, ''))"
    target = f"coalesce(try_element_at({map_literal(mapping.items())}, {key}), _n)"
    # a variant whose column the header also names exactly stays as it is (rescued), never a second copy
    return (f"transform({header}, _n -> CASE WHEN array_contains({array_literal(columns)}, _n) THEN _n"
            f" WHEN array_contains({header}, {target}) THEN _n ELSE {target} END)")
