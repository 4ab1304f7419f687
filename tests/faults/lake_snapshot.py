"""Read every Delta table of a lakehouse root without Spark (delta-rs -> pandas) and compare two roots.

Used by the kill -9 tests: an interrupted-then-resumed run must leave exactly the rows of an uninterrupted run —
nothing lost, nothing duplicated. Columns that legitimately differ between runs (when a row was ingested or
merged, which batch carried it) are left out of the comparison.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

# When / in which batch a row was written: differs between two correct runs.
VOLATILE = {"_ingested_at", "_updated_at", "_quarantined_at", "_batch_id", "_run_id", "_commit_version",
            "computed_at", "scored_at", "created_at", "updated_at", "run_id", "loaded_at", "alerted_at"}
LAYERS = ("bronze", "silver", "quarantine", "gold")


def delta_tables(root: Path, layers: tuple[str, ...] = LAYERS) -> dict[str, Path]:
    found = {}
    for layer in layers:
        base = Path(root) / layer
        if not base.is_dir():
            continue
        for table in sorted(base.iterdir()):
            if (table / "_delta_log").is_dir():
                found[f"{layer}.{table.name}"] = table
    return found


def read_table(path: Path, landing: Path | None = None) -> pd.DataFrame:
    """The table without its VOLATILE columns; with ``landing``, every text that names a file under it (bronze's
    ``_source_file``, carried into silver and quarantine) names it landing-relative (``<landing>/fitbit/...``): two
    lakehouses built from copies of the same landing files at different places compare equal. A text that names it
    once %-decoded is compared decoded (Spark's ``file:`` URIs escape what ``urllib.parse.quote`` does not, e.g. a
    backtick or a backslash in the landing's path)."""
    from urllib.parse import quote

    from deltalake import DeltaTable

    df = DeltaTable(str(path)).to_pandas()
    df = df.drop(columns=[c for c in df.columns if c in VOLATILE])
    if landing is not None:
        prefixes = {Path(landing).as_posix(), quote(Path(landing).as_posix())}
        for c in df.columns:
            if df[c].dtype == object:
                df[c] = df[c].map(lambda v: _relative(v, prefixes) if isinstance(v, str) else v)
    return df


def _relative(text: str, prefixes: set[str]) -> str:
    from urllib.parse import unquote

    if "%" in text:  # decoded on both sides of a comparison alike (e.g. a file name's %20 too)
        decoded = unquote(text)
        if any(p + "/" in decoded for p in prefixes):
            text = decoded
    for prefix in prefixes:
        text = text.replace(prefix + "/", "<landing>/")
    return text


def canonical(df: pd.DataFrame) -> Counter:
    """The table as a multiset of rows (order-free, duplicates counted; floats rounded against
    non-associative sums)."""
    cols = sorted(df.columns)
    out = df[cols].copy()
    for c in cols:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(9)
    return Counter(tuple(None if pd.isna(v) else str(v) for v in row) for row in out.itertuples(index=False))


def snapshot(root: Path, layers: tuple[str, ...] = LAYERS, skip: tuple[str, ...] = (),
             landing: Path | None = None) -> dict[str, Counter]:
    """Every table's rows (``canonical``); with ``landing``, landing file paths landing-relative (``read_table``)."""
    return {name: canonical(read_table(path, landing)) for name, path in delta_tables(root, layers).items()
            if name not in skip}


def diff(expected: dict[str, Counter], actual: dict[str, Counter]) -> list[str]:
    """Human-readable differences; empty when both lakehouses hold the same rows."""
    problems = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            problems.append(f"{name}: missing after resume")
            continue
        if name not in expected:
            problems.append(f"{name}: exists only after resume ({sum(actual[name].values())} rows)")
            continue
        lost = expected[name] - actual[name]
        extra = actual[name] - expected[name]
        if lost or extra:
            sample = next(iter(lost or extra))
            problems.append(
                f"{name}: {sum(lost.values())} rows lost, {sum(extra.values())} extra/duplicated "
                f"(expected {sum(expected[name].values())}); e.g. {sample}"
            )
    return problems


def duplicated_keys(root: Path, keys: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Natural-key duplicates per table (``{table: count}``, only tables with any)."""
    tables = delta_tables(root)
    out = {}
    for name, cols in keys.items():
        if name not in tables:
            continue
        df = read_table(tables[name])
        if not set(cols) <= set(df.columns):
            continue
        n = int(df.duplicated(subset=list(cols)).sum())
        if n:
            out[name] = n
    return out
