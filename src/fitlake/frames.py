"""Small DataFrames built from rows the driver holds, without a Python worker.

``spark.createDataFrame`` on a Python list pickles the rows and reads them back through Spark's Python worker
processes: the first call in a JVM forks and imports a worker (seconds of CPU, in the critical path of whatever
called it), and every later one costs about a second more than it needs. fitlake builds such frames in many places
(per bronze source, per gold run, the run log, model monitoring, each streaming micro-batch's goal state). An Arrow
table goes from the driver to the JVM through a file and no worker (``pyspark``'s Arrow path), so those frames cost a
few milliseconds.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType


def schema_of(ddl: str | StructType) -> StructType:
    """``ddl`` ("name TYPE, ...") as a StructType (parsed by Spark, so every type Spark knows is accepted)."""
    return ddl if isinstance(ddl, StructType) else StructType.fromDDL(ddl)


def local_frame(spark, rows: Sequence[Sequence[Any] | Mapping[str, Any]], schema: str | StructType) -> DataFrame:
    """A DataFrame of ``rows`` (tuples in ``schema``'s column order, or dicts by column name; None = null) with
    exactly ``schema``'s types, through Arrow: no Python worker (``spark.createDataFrame(rows, schema)`` without its
    cost). Dates and numbers only as Python values: a naive datetime would be read in the session's time zone."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    struct = schema_of(schema)
    arrow = to_arrow_schema(struct)

    def column(i: int, name: str) -> list:
        return [row[name] if isinstance(row, Mapping) else row[i] for row in rows]

    columns = [pa.array(column(i, field.name), type=field.type) for i, field in enumerate(arrow)]
    return spark.createDataFrame(pa.Table.from_arrays(columns, schema=arrow), schema=struct)


def pandas_frame(spark, pdf, schema: StructType) -> DataFrame:
    """``pdf`` (a pandas DataFrame, e.g. a few rows collected with ``toPandas``) back as a Spark DataFrame with
    ``schema``'s types, through Arrow (no Python worker); NaN in a pandas float column is null."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    table = pa.Table.from_pandas(pdf[[f.name for f in schema.fields]], schema=to_arrow_schema(schema),
                                 preserve_index=False)
    return spark.createDataFrame(table, schema=schema)
