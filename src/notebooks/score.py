# Databricks notebook source
# MAGIC %md
# MAGIC # Score: @champion models into gold
# MAGIC
# MAGIC Writes gold.user_personas, gold.predicted_calories, gold.predicted_activity_type and
# MAGIC gold.activity_recommendations incrementally.
# MAGIC
# MAGIC Parameters are widgets on Databricks; locally pass them as `--name value`
# MAGIC (`spark-submit src/notebooks/score.py --root ./lakehouse`) or run `fitlake score`.

# COMMAND ----------

import os, sys  # noqa: E401 - no wheel installed (workspace files): the package is the folder beside this one
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(globals().get("__file__", "x")))))

from fitlake.ml.notebook import notebook_params, run_notebook
from fitlake.ml.scoring import score

dbutils = globals().get("dbutils")  # defined by the Databricks runtime; None locally
params = notebook_params({"target": "", "root": ""}, dbutils)

# COMMAND ----------

run_notebook("score", params, dbutils,
             lambda spark, settings: score(spark, settings))
