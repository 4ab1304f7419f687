"""Pure pandas shaping for the dashboard's charts: ``DataFrame -> DataFrame``, no I/O, no Streamlit."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

SEGMENT_ORDER = ("High", "Medium", "Low")
ID_COLUMNS = ("user_id", "date", "date_key", "persona_id", "cluster", "prediction")


def first_present(df: pd.DataFrame, candidates: Iterable[str]) -> str | None:
    """The first of ``candidates`` that is a column of ``df``."""
    return next((c for c in candidates if c in df.columns), None)


def numeric_columns(df: pd.DataFrame, exclude: Sequence[str] = ID_COLUMNS) -> list[str]:
    """Numeric, non-key columns (booleans, ``*_key`` surrogate keys and lineage ``_*`` columns left out)."""
    return [
        c
        for c in df.columns
        if c not in exclude
        and not c.startswith("_")
        and not c.endswith("_key")
        and pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
    ]


def daily_mean(df: pd.DataFrame, columns: Sequence[str], date_col: str = "date") -> pd.DataFrame:
    """Mean of ``columns`` per day over users (nulls ignored), indexed by day: the trend lines."""
    if df.empty:
        return pd.DataFrame(columns=list(columns))
    return df.groupby(date_col)[list(columns)].mean().sort_index()


def segment_counts(df: pd.DataFrame, date_col: str = "date", segment_col: str = "engagement_segment") -> pd.DataFrame:
    """Users per engagement segment per day (days as index, High/Medium/Low columns, missing = 0)."""
    known = df.dropna(subset=[segment_col])
    counts = known.groupby([date_col, segment_col]).size().unstack(fill_value=0)
    ordered = [s for s in SEGMENT_ORDER if s in counts.columns] + [c for c in counts.columns if c not in SEGMENT_ORDER]
    return counts.reindex(columns=ordered).sort_index()


def segment_transitions(
    df: pd.DataFrame, start, end, date_col: str = "date", segment_col: str = "engagement_segment"
) -> pd.DataFrame:
    """How users moved between segments from day ``start`` to day ``end``: rows = from, columns = to, cells = users.

    Users without a segment on either day are left out (they were not wearing the tracker).
    """
    a = df[df[date_col] == start].set_index("user_id")[segment_col].dropna()
    b = df[df[date_col] == end].set_index("user_id")[segment_col].dropna()
    pairs = pd.concat([a.rename("from"), b.rename("to")], axis=1, join="inner")
    table = pd.crosstab(pairs["from"], pairs["to"]) if not pairs.empty else pd.DataFrame()
    order = [s for s in SEGMENT_ORDER if s in set(table.index) | set(table.columns)]
    order += sorted((set(table.index) | set(table.columns)) - set(order))
    table = table.reindex(index=order, columns=order, fill_value=0)
    table.index.name, table.columns.name = "from", "to"
    return table


def histogram(values: pd.Series, bins: int = 20, lower: float | None = None, upper: float | None = None) -> pd.DataFrame:
    """Counts per equal-width bin (``bin_start``, ``bin_end``, ``count``; the last bin includes its end); nulls are
    not counted, values outside ``lower``..``upper`` neither."""
    clean = values.dropna().astype("float64")
    if clean.empty:
        return pd.DataFrame(columns=["bin_start", "bin_end", "count"])
    lo = float(clean.min()) if lower is None else lower
    hi = float(clean.max()) if upper is None else upper
    counts, edges = np.histogram(clean, bins=bins if hi > lo else 1, range=(lo, hi) if hi > lo else (lo - 0.5, lo + 0.5))
    return pd.DataFrame({"bin_start": edges[:-1], "bin_end": edges[1:], "count": counts.astype("int64")})


def persona_columns(df: pd.DataFrame) -> tuple[str | None, str | None]:
    """(cluster id column, persona name column) of a personas table, either may be missing."""
    ident = first_present(df, ("persona_id", "cluster", "prediction", "persona_index"))
    name = first_present(df, ("persona", "persona_name", "name"))
    if name is not None and pd.api.types.is_numeric_dtype(df[name]):
        ident, name = ident or name, None
    return ident, name


def persona_sizes(df: pd.DataFrame) -> pd.DataFrame:
    """Users per persona, largest first, with their share."""
    ident, name = persona_columns(df)
    keys = [c for c in (ident, name) if c]
    if not keys or df.empty:
        return pd.DataFrame(columns=["persona", "users", "share"])
    sizes = df.groupby(keys, dropna=False)["user_id"].nunique().reset_index(name="users")
    sizes["persona"] = sizes[name].astype(str) if name else "persona " + sizes[ident].astype(str)
    sizes["share"] = sizes["users"] / sizes["users"].sum()
    cols = ["persona", "users", "share"] + ([ident] if ident else [])
    return sizes.sort_values(["users", "persona"], ascending=[False, True], ignore_index=True)[cols]


def correlations(df: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Pearson correlations in long form (``x``, ``y``, ``r``) for a heatmap; constant columns are left out."""
    cols = [c for c in (columns or numeric_columns(df)) if df[c].dropna().nunique() > 1]
    if len(cols) < 2:
        return pd.DataFrame(columns=["x", "y", "r"])
    matrix = df[cols].astype("float64").corr()
    long = matrix.stack().reset_index()
    long.columns = ["x", "y", "r"]
    return long


def latest(df: pd.DataFrame, time_col: str, n: int) -> pd.DataFrame:
    """The ``n`` most recent rows, newest first."""
    return df.sort_values(time_col, ascending=False).head(n).reset_index(drop=True)


def window_totals(windows: pd.DataFrame, value_col: str, time_col: str = "window_start") -> pd.DataFrame:
    """Sum of ``value_col`` over users per window, oldest first: the live chart."""
    if windows.empty:
        return pd.DataFrame(columns=[value_col])
    return windows.groupby(time_col)[[value_col]].sum().sort_index()


def type_agreement(scored: pd.DataFrame, actual: str = "actual_activity_type",
                   predicted: str = "predicted_activity_type") -> pd.DataFrame:
    """Per recorded activity type: records, how many the champion predicted as that type, and that share (recall).
    Rows without a recorded or predicted type are left out: neither can agree."""
    known = scored.dropna(subset=[actual, predicted])
    if known.empty:
        return pd.DataFrame(columns=["activity_type", "records", "predicted_same", "agreement"])
    out = (known.assign(same=known[actual] == known[predicted])
           .groupby(actual).agg(records=("same", "size"), predicted_same=("same", "sum"))
           .reset_index().rename(columns={actual: "activity_type"}))
    out["predicted_same"] = out["predicted_same"].astype(int)
    out["agreement"] = out["predicted_same"] / out["records"]
    return out.sort_values(["records", "activity_type"], ascending=[False, True], ignore_index=True)


def _names(value) -> list[str]:
    return [n for n in str(value).split(",") if n] if isinstance(value, str) else []


def completeness_by_input(df: pd.DataFrame) -> pd.DataFrame:
    """gold.data_completeness per input: on how many user-days it was missing and on how many it had rows in
    quarantine (``input``, ``days_missing``, ``days_quarantined``), most affected first; inputs never affected are
    left out."""
    missing = df["missing_inputs"].map(_names).explode().dropna().value_counts()
    quarantined = df["quarantined_inputs"].map(_names).explode().dropna().value_counts()
    out = pd.concat([missing.rename("days_missing"), quarantined.rename("days_quarantined")], axis=1).fillna(0)
    if out.empty:
        return pd.DataFrame(columns=["input", "days_missing", "days_quarantined"])
    out = out.astype("int64").rename_axis("input").reset_index()
    return out.sort_values(["days_missing", "days_quarantined", "input"], ascending=[False, False, True],
                           ignore_index=True)


def completeness_flags(df: pd.DataFrame) -> pd.DataFrame:
    """The incomplete user-days of gold.data_completeness, each with one readable ``flags`` line
    (``missing: a, b; quarantined: c (n rows)``) and ``days_alike`` (user-days with the same missing and quarantined
    inputs): the rarest gaps first (a lost night, a quarantined row), the common ones (a file the export lacks on
    every day) last; newest first within."""
    bad = df[~df["is_complete"].fillna(False).astype(bool)].copy()

    def line(r) -> str:
        parts = []
        if _names(r["missing_inputs"]):
            parts.append("missing: " + ", ".join(_names(r["missing_inputs"])))
        if _names(r["quarantined_inputs"]):
            parts.append(f"quarantined: {', '.join(_names(r['quarantined_inputs']))} "
                         f"({int(r['quarantined_rows'] or 0)} rows)")
        return "; ".join(parts) or "incomplete"

    bad["flags"] = [line(r) for _, r in bad.iterrows()] if not bad.empty else pd.Series(dtype="object")
    pattern = bad["missing_inputs"].fillna("") + "|" + bad["quarantined_inputs"].fillna("")
    bad["days_alike"] = pattern.map(pattern.value_counts()).astype("int64")
    return bad.sort_values(["days_alike", "date", "user_id"], ascending=[True, False, True], ignore_index=True)


def completeness_gaps(flags: pd.DataFrame) -> pd.DataFrame:
    """completeness_flags() grouped by its ``flags`` line: ``gap``, ``user_days``, ``users``, ``first``, ``last``
    (dates), the most common gap first."""
    if flags.empty:
        return pd.DataFrame(columns=["gap", "user_days", "users", "first", "last"])
    out = (flags.groupby("flags")
           .agg(user_days=("user_id", "size"), users=("user_id", "nunique"), first=("date", "min"),
                last=("date", "max"))
           .rename_axis("gap").reset_index())
    out[["user_days", "users"]] = out[["user_days", "users"]].astype("int64")
    return out.sort_values(["user_days", "gap"], ascending=[False, True], ignore_index=True)
