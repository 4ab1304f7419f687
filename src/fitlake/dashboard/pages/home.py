"""Home: what fitlake is, how data flows, and how fresh every table is."""

import streamlit as st

from fitlake.dashboard import data, ui

ARCHITECTURE = """
digraph fitlake {
  rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#f5f7fa", fontname="Helvetica", fontsize=11];
  edge [color="#7a8599"];
  subgraph cluster_landing { label="Landing"; color="#c9d1dc";
    activity [label="activity/*.json"]; fitbit [label="Fitbit export CSVs"];
    events [label="live events JSON"]; kafka [label="Kafka topic"]; }
  bronze [label="Bronze\\nraw text + lineage\\n(file streams, availableNow)", fillcolor="#e9d8c4"];
  silver [label="Silver\\ntyped, validated, MERGE-deduplicated", fillcolor="#dde3ea"];
  quarantine [label="Quarantine\\nbad rows + failed rule", fillcolor="#f6d5d5"];
  gold [label="Gold\\nstar schema + wellness / engagement KPIs", fillcolor="#f4e7b5"];
  windows [label="30 s event windows\\ngoal alerts", fillcolor="#f4e7b5"];
  ml [label="MLlib pipelines\\nMLflow tracking + registry", fillcolor="#d9ecd9"];
  scored [label="personas, predicted calories,\\nrecommendations", fillcolor="#f4e7b5"];
  dash [label="this dashboard", fillcolor="#d6e4f5"];
  activity -> bronze; fitbit -> bronze; events -> bronze; kafka -> bronze;
  bronze -> silver; bronze -> quarantine; silver -> gold; silver -> windows;
  gold -> ml -> scored; gold -> dash; windows -> dash; scored -> dash; ml -> dash;
}
"""

st.title("fitlake")
st.markdown(
    "A **Delta Lake lakehouse for fitness-tracker analytics**. Wearable data — Fitbit-format exports, daily activity "
    "records and live device events — is ingested incrementally into **bronze**, validated and de-duplicated into "
    "**silver** (bad rows go to **quarantine** with the rule they broke), modelled as a **gold** star schema with "
    "wellness and engagement KPIs, aggregated live in 30-second windows, and used to train MLlib models tracked in "
    "MLflow. Every number on these pages is read from the Delta tables and MLflow when the page renders."
)
st.graphviz_chart(ARCHITECTURE)

settings = ui.settings()
st.caption(f"Lakehouse root: `{settings.root}`")
ui.require_lakehouse(settings)

statuses = ui.statuses(settings)
frame = data.status_frame(statuses)
quarantine = ui.quarantine_counts(settings)
present = frame.dropna(subset=["version"])
rows_by_layer = present.groupby("layer")["rows"].sum()

cols = st.columns(5)
cols[0].metric("Tables built", f"{len(present)} / {len(frame)}")
for col, layer in zip(cols[1:4], ("bronze", "silver", "gold")):
    col.metric(f"{layer.capitalize()} rows", f"{int(rows_by_layer.get(layer, 0)):,}")
cols[4].metric("Quarantined rows", f"{int(quarantine['rows'].sum()) if not quarantine.empty else 0:,}")

with st.container(key="freshness"):
    st.subheader("Freshness")
    st.caption("Last Delta version and commit of every table in `fitlake.config.TABLES`; empty rows are not built yet.")
    st.dataframe(
        frame,
        hide_index=True,
        height=35 * (len(frame) + 1) + 3,  # every table visible without scrolling
        column_config={
            "last_commit_utc": st.column_config.DatetimeColumn("last commit (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "rows": st.column_config.NumberColumn("rows", format="localized"),
        },
    )

st.subheader("Quarantine by reason")
if quarantine.empty:
    st.success("No quarantined rows: every record passed its expectations.", icon=":material/check_circle:")
else:
    left, right = st.columns([2, 3])
    left.dataframe(quarantine, hide_index=True)
    right.bar_chart(quarantine.assign(label=quarantine["table"] + ": " + quarantine["rule"]), x="label", y="rows",
                    horizontal=True, x_label="rows", y_label="")
