"""fitlake.py4j_lookups: a class, package or static method is looked up once per process; values never are."""

from __future__ import annotations

import contextlib

from py4j import java_gateway as jg
from pyspark.sql import functions as F

from fitlake import py4j_lookups


@contextlib.contextmanager
def commands(spark):
    """Every Py4J command the driver sends inside the block, as its first lines (kind, sub-kind, target); not
    Py4J's memory commands (``m``/``d``: a collected Python proxy releasing its JVM object, whenever Python's
    garbage collector runs, which made the counts below flaky)."""
    client = spark.sparkContext._gateway._gateway_client
    real, sent = client.send_command, []

    def spy(command, *args, **kwargs):
        if not command.startswith("m\n"):
            sent.append(tuple(command.split("\n")[:3]))
        return real(command, *args, **kwargs)

    client.send_command = spy
    try:
        yield sent
    finally:
        client.send_command = real


def test_get_spark_installs_it_and_turns_the_query_context_capture_off(spark):
    assert py4j_lookups.installed()
    assert spark.conf.get("spark.python.sql.dataFrameDebugging.enabled") == "false"


def test_a_functions_call_costs_one_round_trip_once_its_names_are_known(spark):
    F.col("warm")
    with commands(spark) as sent:
        column = F.col("x")
    assert sent == [("c", "z:org.apache.spark.sql.functions", "col")]  # no lookup, no call-site capture
    assert spark.range(2).withColumnRenamed("id", "x").select(F.sum(column)).first()[0] == 1


def test_a_static_field_is_read_every_time_and_a_failed_member_is_asked_again(spark):
    integer = spark.sparkContext._jvm.java.lang.Integer
    integer.MAX_VALUE
    with commands(spark) as sent:
        assert integer.MAX_VALUE == 2**31 - 1
        assert integer.MAX_VALUE == 2**31 - 1
    assert [s[:2] for s in sent] == [("r", "m"), ("r", "m")]
    with commands(spark) as sent:
        for _ in range(2):
            try:
                integer.noSuchMember
            except Exception:  # noqa: BLE001 - Py4J's error for a missing member
                pass
    assert len([s for s in sent if s[:2] == ("r", "m")]) == 2


def test_names_resolve_as_before_and_uninstall_restores_py4j(spark):
    jvm = spark.sparkContext._jvm
    cached = (jvm.PythonUtils, jvm.py4j.reflection.TypeUtil, getattr(jvm, "org.apache.spark.sql.functions").lit)
    py4j_lookups.uninstall()
    try:
        assert not py4j_lookups.installed()
        plain = (jvm.PythonUtils, jvm.py4j.reflection.TypeUtil, getattr(jvm, "org.apache.spark.sql.functions").lit)
    finally:
        py4j_lookups.install()
    assert [c._fqn for c in cached[:2]] == [p._fqn for p in plain[:2]] == [
        "org.apache.spark.api.python.PythonUtils", "py4j.reflection.TypeUtil"]
    assert isinstance(cached[2], jg.JavaMember) and cached[2].target_id == plain[2].target_id
    assert cached[2](7).toString() == "7"
