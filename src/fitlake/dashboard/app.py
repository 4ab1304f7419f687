"""Entry point of ``fitlake dashboard``: eight pages over the lakehouse and the MLflow registry.

Run with ``streamlit run app.py -- --root DIR`` (``fitlake dashboard`` does this), or set FITLAKE_ROOT.
"""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).with_name("pages")

st.set_page_config(page_title="fitlake", page_icon=":material/monitor_heart:", layout="wide")
navigation = st.navigation(
    [
        st.Page(PAGES / "home.py", title="Home", icon=":material/home:", default=True),
        st.Page(PAGES / "data_overview.py", title="Data overview", icon=":material/table_view:"),
        st.Page(PAGES / "wellness.py", title="Wellness & KPIs", icon=":material/favorite:"),
        st.Page(PAGES / "personas.py", title="Personas & EDA", icon=":material/groups:"),
        st.Page(PAGES / "predictions.py", title="Live predictions", icon=":material/model_training:"),
        st.Page(PAGES / "realtime.py", title="Real-time", icon=":material/bolt:"),
        st.Page(PAGES / "monitoring.py", title="Model monitoring", icon=":material/monitoring:"),
        st.Page(PAGES / "completeness.py", title="Data completeness", icon=":material/rule:"),
    ]
)
navigation.run()
