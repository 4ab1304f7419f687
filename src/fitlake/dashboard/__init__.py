"""The Streamlit dashboard: reads the lakehouse with ``deltalake`` (no JVM) and MLflow; Spark only for predictions."""
