# Databricks notebook source
# MAGIC %md
# MAGIC # Train: activity recommendations (implicit ALS)
# MAGIC
# MAGIC precision@3 and MAP@3 on held-out later days beside a most-popular baseline.
# MAGIC
# MAGIC Parameters are widgets on Databricks; locally pass them as `--name value`
# MAGIC (`spark-submit src/notebooks/train_recommender.py --root ./lakehouse`) or run `fitlake train --model recommend`.

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

params = notebook_params({"target": "", "root": ""}, dbutils)
settings = notebook_settings(params)

# COMMAND ----------

from fitlake.spark import get_spark
from fitlake.ml.train import train_recommender

spark = get_spark(settings, app_name="train_recommender")
result = train_recommender(spark, settings)
print(result)

# COMMAND ----------

if dbutils is not None:
    import json

    dbutils.notebook.exit(json.dumps(result, default=str))
