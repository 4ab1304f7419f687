# Databricks notebook source
# MAGIC %md
# MAGIC # Train: activity type (multinomial LogisticRegression)
# MAGIC
# MAGIC Accuracy, macro-F1 and the confusion matrix beside a majority-class baseline; time split.
# MAGIC
# MAGIC Parameters are widgets on Databricks; locally pass them as `--name value`
# MAGIC (`spark-submit src/notebooks/train_activity_type.py --root ./lakehouse`) or run `fitlake train --model activity`.

# COMMAND ----------

import os, sys  # noqa: E401 - no wheel installed (workspace files): the package is the folder beside this one
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(globals().get("__file__", "x")))))

from fitlake.ml.notebook import notebook_params, run_notebook
from fitlake.ml.train import train_activity_type

dbutils = globals().get("dbutils")  # defined by the Databricks runtime; None locally
params = notebook_params({"target": "", "root": ""}, dbutils)

# COMMAND ----------

run_notebook("train_activity_type", params, dbutils,
             lambda spark, settings: train_activity_type(spark, settings))
