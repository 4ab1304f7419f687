"""MLlib models (personas, activity type, calories, recommendations) tracked in MLflow, and batch scoring."""
