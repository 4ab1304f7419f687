"""Any path the OS allows works as lakehouse root and landing: spaces, apostrophes, double quotes, backticks,
backslashes, unicode. ``fitlake run`` starts its own JVM (the root goes into ``spark.driver.extraJavaOptions``),
creates and registers every table (``LOCATION '...'``; ``delta.`...``` with a backtick doubled, since Delta's table
builder cannot take a backtick) and creates gold by path. End to end, `fitlake run` on such a root and landing is
the kill -9 chain's (tests/faults/test_kill9.py: every run of the chain, killed or not, and its resume run there and
must end with the rows of the uninterrupted run): a run of its own here cost ~50 s of the suite."""

from __future__ import annotations

import pytest

from fitlake.sqltext import create_table_sql, delta_path, identifier, jvm_option, string_literal
from fitlake.spark import FitlakeSetupError, get_spark, local_conf, start_failure_message

HOSTILE = "my lake's \"data\" `tick` back\\slash ü"


def test_quoting_keeps_every_character():
    assert string_literal("/a b/it's \\ \"q\"") == "'/a b/it\\'s \\\\ \"q\"'"
    assert identifier("/a`b") == "`/a``b`"
    assert delta_path("/x y") == "delta.`/x y`"
    assert jvm_option("k", '/a b/"q" \\') == '"-Dk=/a b/\\"q\\" \\\\"'


def test_jvm_options_quote_the_root(tmp_path):
    from fitlake.config import Settings

    root = tmp_path / HOSTILE
    opts = local_conf(Settings(root=root))["spark.driver.extraJavaOptions"]
    assert jvm_option("derby.system.home", root / "_derby") in opts


def test_a_path_problem_is_not_blamed_on_java(tmp_path):
    msg = start_failure_message(RuntimeError("java.net.URISyntaxException: Relative path in absolute URI: a:b"),
                                tmp_path / "a:b")
    assert "lakehouse root" in msg and "java -version" not in msg
    assert "java -version" in start_failure_message(RuntimeError("Java gateway process exited"), tmp_path)


def test_an_uncreatable_root_says_so(tmp_path):
    from fitlake.config import Settings

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(FitlakeSetupError, match="lakehouse root .* cannot be created"):
        get_spark(Settings(root=blocker / "lake"))


def test_create_table_sql_quotes_the_path_and_every_name():
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    schema = StructType([StructField("a`b", IntegerType(), False), StructField("d", StringType())])
    assert create_table_sql("/x `y` 'z'", schema, ["d"], (), {"k": "it's"}) == (
        "CREATE TABLE IF NOT EXISTS delta.`/x ``y`` 'z'` (`a``b` int NOT NULL, `d` string) USING DELTA "
        "PARTITIONED BY (`d`) TBLPROPERTIES ('k' = 'it\\'s')")


def test_a_table_under_a_backtick_path_is_created_registered_and_read(spark, tmp_path):
    """Delta's table builder takes no backtick in a location; ensure_table then creates it by quoted SQL."""
    from pyspark.sql.types import LongType, StructField, StructType

    from fitlake import delta_io
    from fitlake.config import Settings

    ref = Settings(root=tmp_path / "a `tick` b").table("ops", "run_log")
    schema = StructType([StructField("id", LongType())])
    delta_io.ensure_table(spark, ref, schema, properties={"delta.appendOnly": "false"})
    delta_io.ensure_table(spark, ref, schema)  # idempotent
    spark.range(3).write.format("delta").mode("append").save(ref.path)
    assert (tmp_path / "a `tick` b" / "ops" / "run_log" / "_delta_log").is_dir()
    assert spark.sql(f"SELECT count(*) AS n FROM {ref.full_name}").first()["n"] == 3
