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

import os
import sys

try:
    import fitlake  # noqa: F401 - the installed wheel (Databricks job library, local venv)
except ImportError:  # workspace files: the package sits next to this folder
    here = os.path.dirname(os.path.abspath(globals().get("__file__", os.path.join(os.getcwd(), "x"))))
    sys.path.insert(0, os.path.dirname(here))

dbutils = globals().get("dbutils")  # defined by the Databricks runtime; None locally

from fitlake.ml.notebook import notebook_params, notebook_settings

params = notebook_params({"target": "", "root": "", "k_max": "8"}, dbutils)
settings = notebook_settings(params)

# COMMAND ----------

from fitlake.spark import get_spark
from fitlake.ml.train import train_personas

spark = get_spark(settings, app_name="train_personas")
result = train_personas(spark, settings, k_max=int(params["k_max"]))
print(result)

# COMMAND ----------

if dbutils is not None:
    import json

    dbutils.notebook.exit(json.dumps(result, default=str))
