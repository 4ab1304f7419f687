"""Lakehouse reads for the dashboard, without a JVM and without Streamlit.

Delta logs and data are read with ``deltalake`` (delta-rs): its DataFusion engine handles deletion vectors and
column mapping, which plain pyarrow datasets refuse, so every read goes through one SQL path. The cheap
``delta_version`` (a directory listing) is what the UI keys its caches on, so a new commit invalidates them.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
import pyarrow as pa

from fitlake.config import TABLES, Settings
from fitlake.delta_log import rs_can_open

# Columns the browse filters understand, in order of preference.
USER_COLUMNS = ("user_id", "Id")
TIME_COLUMNS = (
    "date",
    "activity_date",
    "sleep_date",
    "activity_hour",
    "log_time",
    "time",
    "minute",
    "hour",
    "window_start",
    "window_end",
    "alert_time",
    "event_time",
)
DEFAULT_LIMIT = 1_000


@dataclass(frozen=True)
class TableStatus:
    """Freshness of one table: what Home shows per row."""

    layer: str
    name: str
    path: str
    version: int | None  # None: the table does not exist yet
    last_commit: dt.datetime | None = None
    operation: str | None = None
    rows: int | None = None

    @property
    def exists(self) -> bool:
        return self.version is not None


@dataclass(frozen=True)
class TableFilter:
    """Row filter of the browse page; empty means everything."""

    user_ids: tuple[int, ...] = ()
    start: dt.date | None = None
    end: dt.date | None = None  # inclusive


def table_paths(settings: Settings, layers: Iterable[str] | None = None) -> list[tuple[str, str, str]]:
    """(layer, name, Delta folder) of every table in ``fitlake.config.TABLES``."""
    out = []
    for layer in layers or TABLES:
        for ref in settings.tables(layer):
            if ref.path is None:
                raise ValueError("The dashboard reads local Delta folders; use the local target (--root DIR).")
            out.append((layer, ref.name, ref.path))
    return out


def delta_version(path: str | os.PathLike) -> int | None:
    """Latest committed version from a listing of ``_delta_log``: cheap enough to run on every rerun."""
    try:
        names = os.listdir(Path(path) / "_delta_log")
    except (FileNotFoundError, NotADirectoryError):
        return None
    versions = [int(n[:20]) for n in names if n.endswith(".json") and len(n) == 25 and n[:20].isdigit()]
    return max(versions) if versions else None


def unreadable_root(settings: Settings) -> str | None:
    """Why the dashboard cannot read this root, in one sentence with its fix; None when it can: its Delta reader
    (delta-rs) opens no table under a root ``delta_log.rs_can_open`` refuses. Every fitlake command reads these
    tables through Spark."""
    root = str(settings.root)
    if rs_can_open(root):
        return None
    return (f"The dashboard cannot read the lakehouse at {root!r}: its path, or the folder it links to, holds a "
            "backslash (\\), which the dashboard's Delta reader takes for a folder separator. The tables are fine "
            "(every fitlake command reads them). To see them here, copy the lakehouse to a path without one, e.g. "
            f"`cp -rL {shlex.quote(root)} ~/lakehouse-copy` and `fitlake dashboard --root ~/lakehouse-copy`.")


def lakehouse_exists(settings: Settings) -> bool:
    """True once any table under the root has a commit: the dashboard's "run `make run` first" switch."""
    return any(delta_version(path) is not None for _, _, path in table_paths(settings))


def _open(path: str | os.PathLike):
    from deltalake import DeltaTable

    return DeltaTable(str(path))


def _query(path: str | os.PathLike, sql: str) -> pa.Table:
    """Run ``sql`` over the Delta table registered as ``t`` (DataFusion: deletion vectors and all)."""
    from deltalake import QueryBuilder

    reader = QueryBuilder().register("t", _open(path)).execute(sql)
    return pa.table(reader.read_all())


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def row_count(path: str | os.PathLike) -> int:
    """Exact row count: file statistics when they are complete and nothing is soft-deleted, else a scan."""
    table = _open(path)
    features = table.protocol().reader_features or []
    if "deletionVectors" not in features:
        counts = table.get_add_actions(flatten=True).column("num_records").to_pylist()
        if all(c is not None for c in counts):
            return int(sum(counts))
    return int(_query(path, "SELECT count(*) AS n FROM t").column("n")[0].as_py())


def table_status(layer: str, name: str, path: str) -> TableStatus:
    """Version, last commit time and operation, and row count of one table (missing table: version None)."""
    if delta_version(path) is None:
        return TableStatus(layer, name, path, None)
    table = _open(path)
    last = table.history(1)[0]
    when = dt.datetime.fromtimestamp(last["timestamp"] / 1000, tz=dt.timezone.utc)
    return TableStatus(layer, name, path, table.version(), when, last.get("operation"), row_count(path))


def status_frame(statuses: Sequence[TableStatus]) -> pd.DataFrame:
    """The freshness table: one row per table, missing ones included so gaps are visible."""
    return pd.DataFrame(
        [
            {
                "layer": s.layer,
                "table": s.name,
                "version": s.version,
                "last_commit_utc": s.last_commit,
                "operation": s.operation,
                "rows": s.rows,
            }
            for s in statuses
        ],
        columns=["layer", "table", "version", "last_commit_utc", "operation", "rows"],
    ).astype({"version": "Int64", "rows": "Int64"})


def table_schema(path: str | os.PathLike) -> pd.DataFrame:
    """Column, Delta type and nullability, in table order."""
    fields = _open(path).schema().fields
    return pd.DataFrame(
        [{"column": f.name, "type": _type_name(f.type), "nullable": bool(f.nullable)} for f in fields],
        columns=["column", "type", "nullable"],
    )


def _type_name(delta_type) -> str:
    # PrimitiveType has .type ("long", "string"); struct/array/map types print themselves.
    return getattr(delta_type, "type", None) or str(delta_type)


def table_history(path: str | os.PathLike, limit: int = 50) -> pd.DataFrame:
    """Delta history, newest first: version, time, operation, its parameters and metrics."""
    rows = []
    for h in _open(path).history(limit):
        rows.append(
            {
                "version": h.get("version"),
                "timestamp_utc": dt.datetime.fromtimestamp(h["timestamp"] / 1000, tz=dt.timezone.utc),
                "operation": h.get("operation"),
                "parameters": _compact(h.get("operationParameters")),
                "metrics": _compact(h.get("operationMetrics")),
                "engine": h.get("engineInfo"),
            }
        )
    return pd.DataFrame(rows, columns=["version", "timestamp_utc", "operation", "parameters", "metrics", "engine"])


def _compact(d: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (d or {}).items())


def column_types(path: str | os.PathLike) -> dict[str, str]:
    """Column name -> Delta type name ("long", "date", "timestamp", ...), in table order."""
    return {f.name: _type_name(f.type) for f in _open(path).schema().fields}


def filter_columns(types: dict[str, str]) -> tuple[str | None, str | None]:
    """The user column and the date/time column the browse filters apply to (None when the table has none)."""
    user = next((c for c in USER_COLUMNS if c in types), None)
    when = next((c for c in TIME_COLUMNS if types.get(c) in ("date", "timestamp", "timestamp_ntz")), None)
    return user, when


def where_clause(types: dict[str, str], flt: TableFilter) -> str:
    """SQL predicate for ``flt`` on a table with these columns; raw (string) bronze ids are compared as text."""
    user, when = filter_columns(types)
    terms = []
    if flt.user_ids and user:
        if types[user] == "string":
            values = ", ".join("'" + str(int(u)) + "'" for u in flt.user_ids)
        else:
            values = ", ".join(str(int(u)) for u in flt.user_ids)
        terms.append(f"{_quote(user)} IN ({values})")
    if when and flt.start:
        terms.append(f"{_quote(when)} >= {_bound(types[when], flt.start)}")
    if when and flt.end:
        if types[when] == "date":
            terms.append(f"{_quote(when)} <= {_bound('date', flt.end)}")
        else:
            terms.append(f"{_quote(when)} < {_bound(types[when], flt.end + dt.timedelta(days=1))}")
    return " AND ".join(terms) if terms else "TRUE"


def _bound(type_name: str, day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'" if type_name == "date" else f"TIMESTAMP '{day.isoformat()} 00:00:00'"


def read_table(
    path: str | os.PathLike,
    columns: Sequence[str] | None = None,
    flt: TableFilter = TableFilter(),
    limit: int | None = None,
    order_by: str | None = None,
) -> pd.DataFrame:
    """Rows of one table as pandas, optionally filtered, ordered (descending) and capped."""
    cols = ", ".join(_quote(c) for c in columns) if columns else "*"
    sql = f"SELECT {cols} FROM t WHERE {where_clause(column_types(path), flt)}"
    if order_by:
        sql += f" ORDER BY {_quote(order_by)} DESC NULLS LAST"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return _query(path, sql).to_pandas()


def count_rows(path: str | os.PathLike, flt: TableFilter = TableFilter()) -> int:
    sql = f"SELECT count(*) AS n FROM t WHERE {where_clause(column_types(path), flt)}"
    return int(_query(path, sql).column("n")[0].as_py())


def user_ids(path: str | os.PathLike) -> list[int]:
    """Distinct users of a table, sorted (raw text ids of bronze tables that are not numbers are skipped)."""
    user, _ = filter_columns(column_types(path))
    if user is None:
        return []
    values = _query(path, f"SELECT DISTINCT {_quote(user)} AS u FROM t").column("u").to_pylist()
    out = set()
    for v in values:
        try:
            out.add(int(v))
        except (TypeError, ValueError):
            continue
    return sorted(out)


def date_range(path: str | os.PathLike) -> tuple[dt.date | None, dt.date | None]:
    """First and last day of the table's date/time column."""
    _, when = filter_columns(column_types(path))
    if when is None:
        return None, None
    row = _query(path, f"SELECT min({_quote(when)}) AS lo, max({_quote(when)}) AS hi FROM t").to_pylist()[0]
    return _as_date(row["lo"]), _as_date(row["hi"])


def _as_date(value) -> dt.date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, dt.datetime) else value


def quarantine_counts(settings: Settings) -> pd.DataFrame:
    """Rows in quarantine per table and failed expectation (``_rule``), largest first."""
    frames = []
    for _, name, path in table_paths(settings, ["quarantine"]):
        if delta_version(path) is None:
            continue
        frames.append(quarantine_counts_of(name, path))
    if not frames:
        return pd.DataFrame(columns=["table", "rule", "rows"])
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["rows", "table", "rule"], ascending=[False, True, True], ignore_index=True)


def quarantine_counts_of(name: str, path: str | os.PathLike) -> pd.DataFrame:
    sql = 'SELECT coalesce("_rule", \'(no rule)\') AS rule, count(*) AS rows FROM t GROUP BY 1'
    counts = _query(path, sql).to_pandas()
    counts.insert(0, "table", name)
    return counts.astype({"rows": "int64"})
