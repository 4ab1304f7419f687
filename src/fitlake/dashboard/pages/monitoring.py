"""Model monitoring: gold.model_monitoring as `fitlake score` fills it — for each champion, its latest scoring batch
(input and prediction drift by PSI against the bins fixed at training, rolling error against the training error),
whether a retrain is due, and the PSI of each input over the batches."""

import streamlit as st

from fitlake import config
from fitlake.dashboard import ui

st.title("Model monitoring")
settings = ui.settings()
ui.require_lakehouse(settings)

rows = ui.table_or_stop(settings, "gold", "model_monitoring", "run `fitlake score` after `fitlake train`")

st.caption(f"PSI above {config.MONITOR_PSI_THRESHOLD} = drifted; rolling error over the last "
           f"{config.MONITOR_ERROR_WINDOW_DAYS} days above {config.MONITOR_ERROR_RATIO} x the training error = "
           f"degraded; batches under {config.MONITOR_MIN_ROWS} rows are not checked for drift.")
rows = rows.sort_values("_monitored_at")
for model_name, mine in rows.groupby("model_name", sort=True):
    latest = mine[mine["batch_id"] == mine.iloc[-1]["batch_id"]]
    version = latest.iloc[-1]["model_version"]
    due = bool(latest["retrain_due"].fillna(False).any())
    st.subheader(f"{model_name} v{version}")
    if due:
        drifted = latest[latest["drifted"].fillna(False)]
        st.warning("Retrain due: " + "; ".join(f"{r.metric} {r.feature} {r.value:.3f} > {r.threshold:.3f}"
                                             for r in drifted.itertuples()), icon=":material/warning:")
    else:
        st.success(f"No drift in the latest batch ({int(latest['rows'].max() or 0):,} rows).",
                   icon=":material/check_circle:")
    st.dataframe(latest[["metric", "feature", "value", "baseline", "threshold", "drifted", "rows",
                         "window_start", "window_end"]].sort_values(["metric", "feature"]),
                 hide_index=True)
    psi = mine[mine["metric"] == "input_psi"]
    if psi["batch_id"].nunique() > 1:
        by_batch = psi.pivot_table(index="_monitored_at", columns="feature", values="value", aggfunc="max")
        st.line_chart(by_batch, height=220)
