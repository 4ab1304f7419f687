"""Data overview: browse any table with its schema and Delta history, filtered by user and date range."""


import streamlit as st

from fitlake.config import TABLES
from fitlake.dashboard import data, ui

ROW_LIMIT = data.DEFAULT_LIMIT

st.title("Data overview")
settings = ui.settings()
ui.require_lakehouse(settings)

statuses = {(s.layer, s.name): s for s in ui.statuses(settings)}
left, right = st.columns(2)
layer = left.selectbox("Layer", list(TABLES), index=list(TABLES).index("gold"))
built = [n for n in TABLES[layer] if statuses[(layer, n)].exists]
if not built:
    st.info(f"No `{layer}` table is built yet — run `make run`.")
    st.stop()
name = right.selectbox("Table", built, format_func=lambda n: f"{n}  ({statuses[(layer, n)].rows:,} rows)")
status = statuses[(layer, name)]
st.caption(
    f"`{layer}.{name}` — version {status.version}, last commit {status.last_commit:%Y-%m-%d %H:%M:%S} UTC "
    f"({status.operation}), {status.rows:,} rows, at `{status.path}`"
)

rows_tab, schema_tab, history_tab = st.tabs(["Rows", "Schema", "Delta history"])
with rows_tab:
    user_col, time_col = data.filter_columns(ui.table_meta(settings, layer, name, "types"))
    f1, f2 = st.columns(2)
    users = f1.multiselect("Users", ui.table_meta(settings, layer, name, "users"), disabled=user_col is None,
                           help=None if user_col else "this table has no user column")
    start = end = None
    first, last = ui.table_meta(settings, layer, name, "dates")
    if time_col and first and last:
        picked = f2.date_input(f"Date range ({time_col})", value=(first, last), min_value=first, max_value=last)
        if isinstance(picked, (tuple, list)) and len(picked) == 2:
            start, end = picked
        elif isinstance(picked, (tuple, list)) and len(picked) == 1:
            start = end = picked[0]
    else:
        f2.caption("No date/time column to filter on (bronze keeps dates as raw text).")
    flt = data.TableFilter(tuple(int(u) for u in users), start, end)
    matching = ui.count(settings, layer, name, flt)
    rows = ui.table(settings, layer, name, flt=flt, limit=ROW_LIMIT, order_by=time_col)
    shown = f"first {ROW_LIMIT:,} (newest first)" if matching > ROW_LIMIT else "all"
    st.caption(f"{matching:,} matching rows; showing {shown}.")
    st.dataframe(rows, hide_index=True)
with schema_tab:
    st.dataframe(ui.table_meta(settings, layer, name, "schema"), hide_index=True)
with history_tab:
    st.dataframe(
        ui.table_meta(settings, layer, name, "history"),
        hide_index=True,
        column_config={"timestamp_utc": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss")},
    )
