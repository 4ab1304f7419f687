# Databricks notebook source
# MAGIC %md
# MAGIC # Train: activity recommendations (implicit ALS)
# MAGIC
# MAGIC precision@3 and MAP@3 on held-out later days beside a most-popular baseline.
# MAGIC
# MAGIC Parameters are widgets on Databricks; locally pass them as `--name value`
# MAGIC (`spark-submit src/notebooks/train_recommender.py --root ./lakehouse`) or run `fitlake train --model recommend`.

# COMMAND ----------

import os, sys  # noqa: E401 - no wheel installed (workspace files): the package is the folder beside this one
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(globals().get("__file__", "x")))))

from fitlake.ml.notebook import notebook_params, run_notebook
from fitlake.ml.train import train_recommender

dbutils = globals().get("dbutils")  # defined by the Databricks runtime; None locally
params = notebook_params({"target": "", "root": ""}, dbutils)

# COMMAND ----------

run_notebook("train_recommender", params, dbutils,
             lambda spark, settings: train_recommender(spark, settings))
