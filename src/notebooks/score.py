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
from fitlake.ml.scoring import score

spark = get_spark(settings, app_name="score")
result = score(spark, settings)
print(result)

# COMMAND ----------

if dbutils is not None:
    import json

    dbutils.notebook.exit(json.dumps(result, default=str))
