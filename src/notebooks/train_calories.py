# Databricks notebook source
# MAGIC %md
# MAGIC # Train: calories (LinearRegression + OneHotEncoder)
# MAGIC
# MAGIC One registered model per source: synthetic activity records and the Fitbit daily export; R², RMSE, MAE beside a mean predictor; time split.
# MAGIC
# MAGIC Parameters are widgets on Databricks; locally pass them as `--name value`
# MAGIC (`spark-submit src/notebooks/train_calories.py --root ./lakehouse`) or run `fitlake train --model calories`.

# COMMAND ----------

import os, sys  # noqa: E401 - no wheel installed (workspace files): the package is the folder beside this one
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(globals().get("__file__", "x")))))

from fitlake.ml.notebook import notebook_params, run_notebook
from fitlake.ml.train import train_calories

dbutils = globals().get("dbutils")  # defined by the Databricks runtime; None locally
params = notebook_params({"target": "", "root": "", "source": "all"}, dbutils)

# COMMAND ----------

run_notebook("train_calories", params, dbutils,
             lambda spark, settings: train_calories(spark, settings, params["source"]))
