"""Py4J name lookups answered once per process instead of once per call.

PySpark reaches the JVM through Py4J, one socket round trip per step: ``F.col("x")`` looks up the class
``org.apache.spark.sql.functions`` (``jvm.<name>``), then its member ``col``, then calls it. Neither answer can
change while the JVM runs (a loaded class, a static method), yet Py4J asks again on every call. A ``fitlake run`` of
the fixture landing made about 55,000 round trips, 17,000 of them such lookups; the costliest were names that are
no class (``jvm.functions`` and ``jvm.PythonUtils`` through PySpark's star imports, ``jvm.py4j.reflection``), each a
failed ``Class.forName`` that searches all ~280 jars on the class path (about 1 ms of JVM CPU each).

``install()`` keeps the answers that are names, not values: a class (``JavaClass``), a package (``JavaPackage``) and
a static method (``JavaMember``), per gateway and JVM view (a view's imports decide what a simple name means). A
static field's value, an instance's member and anything that failed are asked every time, as before. Local JVMs only
(``spark.get_spark``); on Databricks PySpark is the runtime's and stays untouched.
"""

from __future__ import annotations

import threading

from py4j import java_gateway as jg

_answers: dict[tuple, object] = {}
_lock = threading.Lock()
_plain = {cls: cls.__getattr__ for cls in (jg.JVMView, jg.JavaPackage, jg.JavaClass)}
_NAMES = (jg.JavaClass, jg.JavaPackage)  # what a view or a package resolves a name to
_MEMBERS = (jg.JavaMember, jg.JavaClass)  # a class member that is a name (static method, nested class), not a value


def _key(obj, name: str) -> tuple:
    if isinstance(obj, jg.JVMView):
        scope = ("view", obj._id)
    elif isinstance(obj, jg.JavaPackage):
        scope = ("package", obj._fqn, obj._jvm_id)
    else:
        scope = ("class", obj._fqn)
    return (obj._gateway_client, *scope, name)  # the client itself: no id reused by a later gateway


def _cached(cls: type, kinds: tuple[type, ...]):
    plain = _plain[cls]

    def lookup(self, name: str):
        if name.startswith("__"):  # Python's own protocol (copy, pickle, help): Py4J's answer, never kept
            return plain(self, name)
        key = _key(self, name)
        found = _answers.get(key)
        if found is None:
            found = plain(self, name)
            if isinstance(found, kinds):
                with _lock:
                    _answers[key] = found
        return found

    return lookup


def install() -> None:
    """Answer repeated class, package and static-method lookups from memory (idempotent)."""
    if installed():
        return
    jg.JVMView.__getattr__ = _cached(jg.JVMView, _NAMES)
    jg.JavaPackage.__getattr__ = _cached(jg.JavaPackage, _NAMES)
    jg.JavaClass.__getattr__ = _cached(jg.JavaClass, _MEMBERS)


def installed() -> bool:
    return jg.JavaClass.__getattr__ is not _plain[jg.JavaClass]


def uninstall() -> None:
    for cls, plain in _plain.items():
        cls.__getattr__ = plain
    with _lock:
        _answers.clear()
