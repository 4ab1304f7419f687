"""Quoting for the few places a path or a name must appear inside SQL text or a JVM option string.

Any path the OS allows (spaces, quotes, apostrophes, backticks, backslashes, unicode) must survive: never paste a
path into SQL or ``spark.driver.extraJavaOptions`` without these.
"""

from __future__ import annotations

import os


def string_literal(text: str | os.PathLike) -> str:
    """A Spark SQL string literal for ``text`` (single-quoted, backslash and quote escaped)."""
    s = os.fspath(text)
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def array_literal(values) -> str:
    """``array('a', 'b', ...)``: a Spark SQL array of string literals (one ``F.expr`` instead of a Py4J call per
    element)."""
    return "array(" + ", ".join(string_literal(v) for v in values) + ")"


def map_literal(pairs) -> str:
    """``map('k1', 'v1', ...)``: a Spark SQL map of string literals from ``(key, value)`` pairs."""
    return "map(" + ", ".join(f"{string_literal(k)}, {string_literal(v)}" for k, v in pairs) + ")"


def identifier(text: str | os.PathLike) -> str:
    """A back-quoted Spark SQL identifier (a backtick inside is doubled)."""
    return "`" + os.fspath(text).replace("`", "``") + "`"


def delta_path(path: str | os.PathLike) -> str:
    """``delta.`<path>``` for SQL that names a Delta table by its folder."""
    return "delta." + identifier(path)


def jvm_option(name: str, value: str | os.PathLike) -> str:
    """``-Dname=value`` as one word of a Spark ``extraJavaOptions`` string (``jvm_word``)."""
    return jvm_word(f"-D{name}={os.fspath(value)}")


def jvm_word(text: str) -> str:
    """``text`` as one word of a Spark ``extraJavaOptions`` string, which Spark splits like a shell does:
    double-quoted, with backslash and double quote escaped."""
    v = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{v}"'


def create_table_sql(path: str | os.PathLike, schema, partition_by=(), cluster_by=(), properties=None) -> str:
    """``CREATE TABLE IF NOT EXISTS delta.`<path>` (...)`` for a PySpark StructType: what Delta's table builder does,
    for a path it cannot take (the builder parses ``delta.`<path>``` itself, unescaped, so a backtick breaks it)."""
    cols = ", ".join(f"{identifier(f.name)} {f.dataType.simpleString()}{'' if f.nullable else ' NOT NULL'}"
                     for f in schema.fields)
    return f"CREATE TABLE IF NOT EXISTS {delta_path(path)} ({cols}) " + table_clause(partition_by, cluster_by, properties)


def table_clause(partition_by=(), cluster_by=(), properties=None) -> str:
    """``USING DELTA [PARTITIONED BY (...)] [CLUSTER BY (...)] [TBLPROPERTIES (...)]``: a CREATE TABLE after its
    columns (or its name, for CREATE TABLE ... AS SELECT)."""
    clause = "USING DELTA"
    if partition_by:
        clause += " PARTITIONED BY (" + ", ".join(identifier(c) for c in partition_by) + ")"
    if cluster_by:
        clause += " CLUSTER BY (" + ", ".join(identifier(c) for c in cluster_by) + ")"
    if properties:
        clause += " TBLPROPERTIES (" + ", ".join(f"{string_literal(k)} = {string_literal(str(v))}"
                                                 for k, v in properties.items()) + ")"
    return clause
