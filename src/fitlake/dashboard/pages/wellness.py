"""Wellness & KPIs: wellness score trends, engagement segment movement, sleep efficiency; per-user drill-down."""

import altair as alt
import streamlit as st

from fitlake.dashboard import shaping, ui


def has_rows(df, name: str) -> bool:
    """Whether ``gold.<name>`` has rows to show; if not, say why (no table yet, or no rows yet)."""
    if df is None:
        ui.missing("gold", name)
    elif df.empty:
        st.info(f"`gold.{name}` has no rows yet.")
    return df is not None and not df.empty


st.title("Wellness & KPIs")
settings = ui.settings()
ui.require_lakehouse(settings)

wellness = ui.table(settings, "gold", "kpi_wellness_daily")
engagement = ui.table(settings, "gold", "kpi_engagement_daily")
sleep = ui.table(settings, "gold", "fact_sleep")
COMPONENTS = [c for c in ("steps_component", "active_component", "sleep_component", "activity_score", "sleep_score")
              if wellness is not None and c in wellness.columns]

st.subheader("Wellness score")
if has_rows(wellness, "kpi_wellness_daily"):
    trend = shaping.daily_mean(wellness, ["wellness_score"])
    c1, c2, c3 = st.columns(3)
    c1.metric("Mean wellness score (all user-days)", f"{wellness['wellness_score'].mean():.1f}")
    c2.metric(f"Mean on {trend.index.max()}", f"{trend['wellness_score'].iloc[-1]:.1f}")
    c3.metric("Users", f"{wellness['user_id'].nunique():,}")
    st.caption("Mean over users per day (0-100).")
    st.line_chart(trend, y="wellness_score", y_label="wellness score", x_label="date")
    if COMPONENTS:
        st.caption("Mean component per day (each in 0-1; the score is their weighted mean).")
        st.line_chart(shaping.daily_mean(wellness, COMPONENTS), x_label="date")

st.subheader("Engagement segments")
if has_rows(engagement, "kpi_engagement_daily"):
    counts = shaping.segment_counts(engagement)
    st.caption("Users per segment per day (trailing 7-day active minutes).")
    st.area_chart(counts, x_label="date", y_label="users")
    days = sorted(engagement["date"].dropna().unique())
    if len(days) >= 2:
        start, end = st.select_slider("Movement between", options=days, value=(days[0], days[-1]))
        moves = shaping.segment_transitions(engagement, start, end)
        st.caption(f"Users by segment on {start} (rows) and on {end} (columns).")
        st.dataframe(moves)

st.subheader("Sleep efficiency")
if sleep is None:
    ui.missing("gold", "fact_sleep")
elif sleep["sleep_efficiency"].dropna().empty:
    st.info("No night with a sleep efficiency yet (`gold.fact_sleep`).")
else:
    eff = sleep["sleep_efficiency"].dropna()
    c1, c2, c3 = st.columns(3)
    c1.metric("Nights", f"{len(eff):,}")
    c2.metric("Median efficiency", f"{eff.median():.1%}")
    c3.metric("Nights below 85 %", f"{(eff < 0.85).mean():.1%}")
    hist = shaping.histogram(eff, bins=20)
    st.altair_chart(
        alt.Chart(hist).mark_bar().encode(
            x=alt.X("bin_start:Q", title="minutes asleep / time in bed", axis=alt.Axis(format="%")),
            x2="bin_end:Q",
            y=alt.Y("count:Q", title="nights"),
            y2=alt.datum(0),
            tooltip=["bin_start", "bin_end", "count"],
        )
    )

st.subheader("Per-user drill-down")
frames = [f for f in (wellness, engagement, sleep) if f is not None and not f.empty]
users = sorted(set().union(*(set(f["user_id"].dropna().astype("int64")) for f in frames))) if frames else []
if not users:
    st.info("No user has KPI rows yet.")
else:
    user = st.selectbox("User", users)
    if wellness is not None:
        mine = wellness[wellness["user_id"] == user].sort_values("date")
        st.line_chart(mine, x="date", y=["wellness_score"], y_label="wellness score")
        if COMPONENTS:
            st.line_chart(mine, x="date", y=COMPONENTS, y_label="component")
    left, right = st.columns(2)
    if engagement is not None:
        seg = engagement[engagement["user_id"] == user].sort_values("date")
        left.caption("Engagement segment by day")
        left.dataframe(seg[[c for c in ("date", "engagement_segment", "weekly_active_minutes",
                                        "trailing_active_minutes", "active_minutes") if c in seg.columns]],
                       hide_index=True)
    if sleep is not None:
        nights = sleep[sleep["user_id"] == user].sort_values("date")
        right.caption("Sleep efficiency by night")
        right.line_chart(nights, x="date", y="sleep_efficiency")
