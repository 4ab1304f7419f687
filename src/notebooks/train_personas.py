# Databricks notebook source
# MAGIC %md
# MAGIC # Train: user personas (KMeans)
# MAGIC
# MAGIC Per-user behaviour features; k over 2..8 chosen by resample stability (the finest clustering that 80 % resamples
# MAGIC reproduce with ARI >= 0.85), silhouette logged beside it; persona names from the centroids.
# MAGIC
# MAGIC Parameters are widgets on Databricks; locally pass them as `--name value`
# MAGIC (`spark-submit src/notebooks/train_personas.py --root ./lakehouse`) or run `fitlake train --model personas`.

# COMMAND ----------

import os, sys  # noqa: E401 - no wheel installed (workspace files): the package is the folder beside this one
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(globals().get("__file__", "x")))))

from fitlake.ml.notebook import notebook_params, run_notebook
from fitlake.ml.train import train_personas

dbutils = globals().get("dbutils")  # defined by the Databricks runtime; None locally
params = notebook_params({"target": "", "root": "", "k_max": "8"}, dbutils)

# COMMAND ----------

run_notebook("train_personas", params, dbutils,
             lambda spark, settings: train_personas(spark, settings, k_max=int(params["k_max"])))
