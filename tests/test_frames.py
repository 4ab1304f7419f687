"""``fitlake.frames``: small driver-side frames through Arrow, typed exactly as ``spark.createDataFrame`` types them,
without its Python worker (a LocalRelation, not a scan of a Python RDD). The reference is PySpark's own method,
``create_data_frame`` (tests/conftest.py sends the tests' ``spark.createDataFrame`` calls through ``local_frame``)."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from fitlake.frames import local_frame, pandas_frame

DDL = "i INT, b BIGINT, s STRING, d DOUBLE, f BOOLEAN, day DATE, ts TIMESTAMP"
ROWS = [(1, 2**40, "ü, \"x\"", 1.5, True, dt.date(2016, 4, 12), dt.datetime(2016, 4, 12, 13, 5, 7, 123456)),
        (0, 0, "", 0.0, False, dt.date(1970, 1, 1), dt.datetime(1970, 1, 1)),
        (None, None, None, None, None, None, None)]


def create_data_frame(spark, rows, schema):
    """PySpark's ``SparkSession.createDataFrame`` itself (rows pickled through a Python worker)."""
    return SparkSession.createDataFrame(spark, rows, schema)


def relation(df) -> str:
    return df._jdf.queryExecution().analyzed().getClass().getSimpleName()


def test_local_frame_types_values_and_nulls_as_create_data_frame_does(spark):
    got = local_frame(spark, ROWS, DDL)
    assert_df_equality(got, create_data_frame(spark, ROWS, DDL))
    assert relation(got) == "LocalRelation"  # no Python RDD: no Python worker
    assert relation(create_data_frame(spark, ROWS, DDL)) != "LocalRelation"  # the reference is PySpark's own path


def test_local_frame_takes_dict_rows_by_name_and_no_rows(spark):
    as_dicts = [dict(zip(("i", "b", "s", "d", "f", "day", "ts"), r), extra="ignored") for r in ROWS]
    assert_df_equality(local_frame(spark, as_dicts, DDL), create_data_frame(spark, ROWS, DDL))
    empty = local_frame(spark, [], DDL)
    assert empty.count() == 0 and empty.schema == create_data_frame(spark, [], DDL).schema


def test_pandas_frame_keeps_the_spark_types_and_reads_nan_as_null(spark):
    source = create_data_frame(spark, [(1, 2.5, "a"), (2, None, None)], "user_id BIGINT, x DOUBLE, t STRING")
    pdf = source.toPandas()
    assert math.isnan(pdf["x"][1])
    got = pandas_frame(spark, pdf, source.schema)
    assert_df_equality(got, source)
    assert relation(got) == "LocalRelation"
    assert pandas_frame(spark, pd.DataFrame({"user_id": [], "x": [], "t": []}), source.schema).count() == 0


def test_the_suites_create_data_frame_goes_through_arrow_unless_it_cannot(spark):
    """tests/conftest.py: a test's ``spark.createDataFrame(rows, schema)`` is a LocalRelation with the rows and types
    of PySpark's path; Row objects, or no schema, still take PySpark's path."""
    from pyspark.sql import Row

    got = spark.createDataFrame(ROWS, DDL)
    assert relation(got) == "LocalRelation"
    assert_df_equality(got, create_data_frame(spark, ROWS, DDL))
    assert relation(spark.createDataFrame([Row(i=1)], "i INT")) != "LocalRelation"
    assert relation(spark.createDataFrame([(1,)], ["i"])) != "LocalRelation"
