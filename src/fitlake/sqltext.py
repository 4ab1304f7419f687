"""Quoting for the few places a path must appear inside SQL text or a JVM option string.

Any path the OS allows (spaces, quotes, apostrophes, backticks, backslashes, unicode) must survive: never paste a
path into SQL or ``spark.driver.extraJavaOptions`` without these.
"""

from __future__ import annotations

import os


def string_literal(text: str | os.PathLike) -> str:
    """A Spark SQL string literal for ``text`` (single-quoted, backslash and quote escaped)."""
    s = os.fspath(text)
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def identifier(text: str | os.PathLike) -> str:
    """A back-quoted Spark SQL identifier (a backtick inside is doubled)."""
    return "`" + os.fspath(text).replace("`", "``") + "`"


def delta_path(path: str | os.PathLike) -> str:
    """``delta.`<path>``` for SQL that names a Delta table by its folder."""
    return "delta." + identifier(path)


def jvm_option(name: str, value: str | os.PathLike) -> str:
    """``-Dname=value`` as one word of a Spark ``extraJavaOptions`` string, which Spark splits like a shell does:
    double-quoted, with backslash and double quote escaped."""
    v = os.fspath(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"-D{name}={v}"'
