"""Data completeness: gold.data_completeness per user and day — which silver inputs of the day (daily record, sleep,
hourly steps/calories/intensities, heart rate) were missing or had rows quarantined — with counts per input, so a
damaged or partial export shows where gold is incomplete instead of looking quietly fine."""

import streamlit as st

from fitlake.dashboard import shaping, ui

FLAG_LINES = 20

st.title("Data completeness")
settings = ui.settings()
ui.require_lakehouse(settings)

rows = ui.table_or_stop(settings, "gold", "data_completeness", "run `make run`")

users = st.multiselect("Users", sorted(rows["user_id"].unique().tolist()))
if users:
    rows = rows[rows["user_id"].isin(users)]
flags = shaping.completeness_flags(rows)
a, b, c = st.columns(3)
a.metric("User-days", f"{len(rows):,}")
b.metric("Complete", f"{len(rows) - len(flags):,}")
c.metric("Quarantined rows", f"{int(rows['quarantined_rows'].fillna(0).sum()):,}")

st.subheader("Per input")
st.caption("User-days on which the input had no row (missing; an hourly input: fewer than 24 hours) or had rows in "
           "`quarantine.<input>`.")
st.table(shaping.completeness_by_input(rows))

st.subheader("Incomplete days")
if flags.empty:
    st.success("Every user-day has all its inputs, nothing quarantined.", icon=":material/check_circle:")
    st.stop()
st.caption("Each gap (the same inputs missing or quarantined) with how many user-days and users have it.")
st.table(shaping.completeness_gaps(flags))
shown = flags.head(FLAG_LINES)
st.caption(f"{len(flags):,} incomplete user-days; the {len(shown)} with the rarest gaps below (a gap shared by many "
           "days, like a file the export lacks, comes last), all of them in the table.")
st.markdown("\n".join(f"- {r.date:%Y-%m-%d} · user {r.user_id}: {r.flags}" for r in shown.itertuples()))
st.dataframe(flags[["user_id", "date", "flags", "days_alike", "hourly_coverage", "heart_rate_hours", "has_sleep",
                    "quarantined_rows"]], hide_index=True)
