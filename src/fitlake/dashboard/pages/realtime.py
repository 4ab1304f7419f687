"""Real-time: the latest 30-second event windows and step-goal alerts, refreshed every few seconds."""

import datetime as dt

import streamlit as st

from fitlake.dashboard import data, shaping, ui

REFRESH_SECONDS = 5
LATEST_WINDOWS = 500

st.title("Real-time")
settings = ui.settings()
ui.require_lakehouse(settings)
auto = st.toggle(f"Auto-refresh every {REFRESH_SECONDS} s", value=True)


@st.fragment(run_every=REFRESH_SECONDS if auto else None)
def live() -> None:
    st.caption(f"Read at {dt.datetime.now(dt.timezone.utc):%H:%M:%S} UTC")
    windows = ui.table(settings, "gold", "event_windows", limit=LATEST_WINDOWS, order_by="window_end")
    st.subheader("Event windows")
    if windows is None:
        ui.missing("gold", "event_windows", "start the streaming job: `fitlake stream`")
    elif windows.empty:
        st.info("No event has reached a window yet.")
    else:
        last_end = windows["window_end"].max()
        newest = windows[windows["window_end"] == last_end]
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Latest window end (UTC)", f"{last_end:%H:%M:%S}",
                  help=f"{last_end:%Y-%m-%d %H:%M:%S} UTC. A window keeps filling until the 1-minute watermark "
                       "passes its end; events later than that are dropped.")
        c2.metric("Users in it", f"{newest['user_id'].nunique():,}")
        c3.metric("Steps in it", f"{int(newest['steps'].sum()):,}")
        count_col = shaping.first_present(newest, ("event_count", "events"))
        c4.metric("Events in it", f"{int(newest[count_col].sum()):,}" if count_col else "—")
        st.caption(f"Steps per 30-second window, all users (latest {LATEST_WINDOWS} user windows).")
        st.bar_chart(shaping.window_totals(windows, "steps"), y="steps", x_label="window start (UTC)")
        st.dataframe(shaping.latest(windows, "window_end", 50), hide_index=True)

    st.subheader("Goal alerts")
    types = ui.table_meta(settings, "gold", "goal_alerts", "types") or {}
    when = next((c for c in ("crossed_at", "alerted_at", "alert_time", "date") if c in types), None)
    alerts = ui.table(settings, "gold", "goal_alerts", limit=200, order_by=when)
    if alerts is None:
        ui.missing("gold", "goal_alerts", "start the streaming job: `fitlake stream`")
    elif alerts.empty:
        st.info("Nobody has reached the daily step goal yet.")
    else:
        recent = shaping.latest(alerts, when, 20) if when else alerts.head(20)
        total = ui.count(settings, "gold", "goal_alerts", data.TableFilter())
        st.metric("Alerts", f"{total:,}", help="users x days that reached the step goal")
        st.dataframe(recent, hide_index=True)


live()
