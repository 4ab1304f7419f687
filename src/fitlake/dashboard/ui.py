"""Streamlit glue shared by the pages: which lakehouse, cached reads keyed on Delta versions, "not built yet" panels.

Table reads are cached on (path, Delta version): the version is a directory listing, so every rerun sees a new
commit at once and an unchanged table costs nothing. MLflow lookups are cached for a short TTL (the registry has no
version to key on); fitted models are cached per registered version for the life of the server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import pandas as pd
import streamlit as st

from fitlake.config import Settings, load_settings
from fitlake.dashboard import data, models

MLFLOW_TTL_SECONDS = 30


def _root_from_argv() -> str | None:
    """``streamlit run app.py -- --root DIR`` leaves ``[app.py, --root, DIR]`` in sys.argv."""
    if not sys.argv or Path(sys.argv[0]).name != "app.py":
        return None
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--root")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known.root


def settings() -> Settings:
    """The lakehouse this server shows: ``--root`` after ``--``, else $FITLAKE_ROOT, else ./lakehouse."""
    return load_settings(target="local", root=_root_from_argv() or os.environ.get("FITLAKE_ROOT"))


def require_lakehouse(s: Settings) -> None:
    """Stop the page with one clear sentence when its tables cannot be read (``data.unreadable_root``) or nothing has
    been built under the root yet."""
    problem = data.unreadable_root(s)
    if problem is not None:
        st.error(problem, icon=":material/error:")
        st.stop()
    if not data.lakehouse_exists(s):
        st.info(
            f"No lakehouse at `{s.root}` yet — run `make run` (or `fitlake run --root {s.root}`) to build it, "
            "then reload this page.",
            icon=":material/info:",
        )
        st.stop()


def missing(layer: str, name: str, hint: str = "run `make run`") -> None:
    st.warning(f"`{layer}.{name}` does not exist yet — {hint}.", icon=":material/hourglass_empty:")


def table_or_stop(s: Settings, layer: str, name: str, hint: str = "run `make run`") -> pd.DataFrame:
    """The whole table for a page built on it alone; the page stops with ``missing``'s sentence when it has no rows."""
    rows = table(s, layer, name)
    if rows is None or rows.empty:
        missing(layer, name, hint)
        st.stop()
    return rows


# ---- Delta tables --------------------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=512)
def _status(layer: str, name: str, path: str, version: int) -> data.TableStatus:
    return data.table_status(layer, name, path)


def statuses(s: Settings) -> list[data.TableStatus]:
    out = []
    for layer, name, path in data.table_paths(s):
        version = data.delta_version(path)
        out.append(data.TableStatus(layer, name, path, None) if version is None else _status(layer, name, path, version))
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def _quarantine(root: str, versions: tuple) -> pd.DataFrame:
    return data.quarantine_counts(load_settings(target="local", root=root))


def quarantine_counts(s: Settings) -> pd.DataFrame:
    versions = tuple(data.delta_version(p) for _, _, p in data.table_paths(s, ["quarantine"]))
    return _quarantine(str(s.root), versions)


@st.cache_data(show_spinner=False, max_entries=256)
def _read(path: str, version: int, columns, user_ids, start, end, limit, order_by) -> pd.DataFrame:
    flt = data.TableFilter(tuple(user_ids), start, end)
    return data.read_table(path, columns, flt, limit, order_by)


def table(
    s: Settings,
    layer: str,
    name: str,
    columns: list[str] | None = None,
    flt: data.TableFilter = data.TableFilter(),
    limit: int | None = None,
    order_by: str | None = None,
) -> pd.DataFrame | None:
    """Rows of ``layer.name`` (cached per Delta version), or None when the table does not exist yet."""
    path = s.table(layer, name).path
    version = data.delta_version(path)
    if version is None:
        return None
    return _read(path, version, tuple(columns) if columns else None, flt.user_ids, flt.start, flt.end, limit, order_by)


@st.cache_data(show_spinner=False, max_entries=256)
def _meta(kind: str, path: str, version: int):
    if kind == "schema":
        return data.table_schema(path)
    if kind == "history":
        return data.table_history(path)
    if kind == "users":
        return data.user_ids(path)
    if kind == "dates":
        return data.date_range(path)
    if kind == "types":
        return data.column_types(path)
    raise ValueError(kind)


def table_meta(s: Settings, layer: str, name: str, kind: str):
    """Schema / history / user ids / date range / column types of one table, cached per version."""
    path = s.table(layer, name).path
    version = data.delta_version(path)
    return None if version is None else _meta(kind, path, version)


@st.cache_data(show_spinner=False, max_entries=256)
def _count(path: str, version: int, user_ids, start, end) -> int:
    return data.count_rows(path, data.TableFilter(tuple(user_ids), start, end))


def count(s: Settings, layer: str, name: str, flt: data.TableFilter) -> int:
    path = s.table(layer, name).path
    return _count(path, data.delta_version(path), flt.user_ids, flt.start, flt.end)


# ---- MLflow --------------------------------------------------------------------------------------------------------
@st.cache_data(ttl=MLFLOW_TTL_SECONDS, show_spinner=False)
def champion(root: str, role: str) -> models.Champion | None:
    return models.champion(load_settings(target="local", root=root), role)


@st.cache_data(ttl=MLFLOW_TTL_SECONDS, show_spinner=False)
def champions_frame(root: str) -> pd.DataFrame:
    return models.champions_frame(load_settings(target="local", root=root))


@st.cache_data(ttl=MLFLOW_TTL_SECONDS, show_spinner=False)
def run_metrics(root: str, run_id: str | None) -> dict[str, float]:
    return models.run_metrics(load_settings(target="local", root=root), run_id)


@st.cache_data(ttl=MLFLOW_TTL_SECONDS, show_spinner=False)
def silhouette_curve(root: str, run_id: str | None) -> pd.DataFrame:
    return models.silhouette_curve(load_settings(target="local", root=root), run_id)


@st.cache_resource(show_spinner="Reading the model from MLflow…", max_entries=16)
def model_card(root: str, champ: models.Champion) -> models.ModelCard:
    """Downloaded once per registered version (the champion key includes the version)."""
    s = load_settings(target="local", root=root)
    return models.model_card(champ, models.download_model(s, champ))


@st.cache_resource(show_spinner="Starting Spark and loading the model (first prediction only)…", max_entries=8)
def predictor(root: str, champ: models.Champion):
    return models.load_predictor(load_settings(target="local", root=root), model_card(root, champ))


def champion_caption(champ: models.Champion, metrics: dict[str, float]) -> str:
    shown = ", ".join(f"{k} {v:.3g}" for k, v in sorted(metrics.items()) if not k.startswith("silhouette_k"))
    when = f", registered {champ.created:%Y-%m-%d %H:%M} UTC" if isinstance(champ.created, dt.datetime) else ""
    return f"`{champ.name}` version {champ.version} (@{models.ALIAS}{when}) — {shown or 'no metrics logged'}"


@st.cache_data(ttl=MLFLOW_TTL_SECONDS, show_spinner=False)
def persona_names(root: str, run_id: str | None) -> dict[int, str]:
    return models.persona_names(load_settings(target="local", root=root), run_id)
