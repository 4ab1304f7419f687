"""The foundation: the session has Delta, MERGE upserts, config maps tables, setup errors are one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from chispa import assert_df_equality

from fitlake import jars
from fitlake.config import ConfigError, Settings, load_settings
from fitlake.doctor import upsert_demo
from fitlake.spark import FitlakeSetupError, check_java, register_tables


def test_session_has_delta_and_utc(spark):
    conf = spark.conf
    assert "DeltaSparkSessionExtension" in conf.get("spark.sql.extensions")
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.sql("SELECT cast(timestamp'2016-04-12 00:00:00' AS long) AS t").first()["t"] == 1460419200


def test_jvm_settings_c1_for_small_inputs_full_jit_otherwise_parallel_gc_unless_told(spark, monkeypatch):
    """The suite's session JVM runs as a small `fitlake run`, `train` or `score` does: C1 with 8 MB thread stacks
    (C1's frames overflowed MLlib's default task stack) and the parallel collector; the full JIT is the default for
    larger inputs; FITLAKE_JIT and FITLAKE_GC override both ways."""
    from fitlake.spark import gc_options, jit_options, local_conf
    from fitlake.config import Settings

    args = list(spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    assert "-XX:TieredStopAtLevel=1" in args and "-Xss8m" in args
    assert "-XX:+UseParallelGC" in args
    monkeypatch.delenv("FITLAKE_JIT", raising=False)
    monkeypatch.delenv("FITLAKE_GC", raising=False)
    assert jit_options() == []
    assert jit_options("c1") == ["-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=240m", "-Xss8m"]
    etl = local_conf(Settings(), jit="c1")["spark.driver.extraJavaOptions"]
    assert "-XX:TieredStopAtLevel=1" in etl and "-XX:+UseParallelGC" in etl
    monkeypatch.setenv("FITLAKE_JIT", "full")
    assert jit_options("c1") == []
    monkeypatch.setenv("FITLAKE_JIT", "c1")
    assert "-XX:TieredStopAtLevel=1" in local_conf(Settings())["spark.driver.extraJavaOptions"]
    monkeypatch.setenv("FITLAKE_GC", "g1")
    assert gc_options() == [] and "UseParallelGC" not in local_conf(Settings())["spark.driver.extraJavaOptions"]
    # FITLAKE_JAVA_OPTIONS: more driver options after fitlake's own, split like a shell and quoted again
    monkeypatch.setenv("FITLAKE_JAVA_OPTIONS", "-XX:CompileThresholdScaling=4 '-Dfitlake.note=a b'")
    opts = local_conf(Settings())["spark.driver.extraJavaOptions"]
    assert opts.endswith('"-XX:CompileThresholdScaling=4" "-Dfitlake.note=a b"'), opts
    monkeypatch.delenv("FITLAKE_JAVA_OPTIONS")
    assert "CompileThresholdScaling" not in local_conf(Settings())["spark.driver.extraJavaOptions"]


def test_merge_upsert_gives_expected_rows(spark, tmp_path):
    path = str(tmp_path / "demo")
    result = upsert_demo(spark, path)
    assert (result["updated"], result["inserted"], result["rows"], result["version"]) == (1, 1, 4, 1)
    expected = spark.createDataFrame(
        [(1, "walking", 4000), (2, "running", 9500), (3, "yoga", 0), (4, "cycling", 1200)],
        "user_id INT, activity_type STRING, steps INT",
    )
    actual = spark.read.format("delta").load(path)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_delta_table_opens_with_independent_reader(spark, tmp_path):
    from deltalake import DeltaTable

    path = str(tmp_path / "demo")
    upsert_demo(spark, path)
    table = DeltaTable(path)
    assert table.version() == 1
    assert sorted(table.to_pyarrow_table().column("user_id").to_pylist()) == [1, 2, 3, 4]


def test_table_mapping_local_and_databricks(tmp_path):
    local = Settings(root=tmp_path)
    ref = local.table("silver", "daily_activity")
    assert ref.full_name == "silver.daily_activity"
    assert ref.path == str(tmp_path / "silver" / "daily_activity")
    remote = Settings(target="dev", catalog="main", schema="fitlake_dev")
    ref = remote.table("gold", "dim_user")
    assert ref.full_name == "main.fitlake_dev.gold_dim_user" and ref.path is None
    with pytest.raises(ConfigError, match="Unknown table"):
        local.table("gold", "nope")
    with pytest.raises(ConfigError, match="Unknown target"):
        Settings(target="staging")


def test_load_settings_env_and_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("FITLAKE_ROOT", str(tmp_path / "r"))
    monkeypatch.setenv("FITLAKE_STEP_GOAL", "8000")
    s = load_settings()
    assert s.root == (tmp_path / "r").resolve() and s.step_goal == 8000 and s.target == "local"
    assert s.landing_dir == s.root / "landing"
    assert load_settings(root=tmp_path / "x").root == (tmp_path / "x").resolve()
    assert s.mlflow_tracking_uri.startswith("sqlite:///")
    assert s.silver_batch_bytes == "64m"
    monkeypatch.setenv("FITLAKE_SILVER_BATCH_BYTES", "1g")
    assert load_settings().silver_batch_bytes == "1g"


def test_register_tables_finds_delta_folders(spark, tmp_path):
    settings = Settings(root=tmp_path)
    upsert_demo(spark, settings.table("gold", "dim_user").path)
    found = register_tables(spark, settings)
    assert [r.full_name for r in found] == ["gold.dim_user"]
    assert spark.sql("SELECT count(*) AS n FROM gold.dim_user").first()["n"] == 4


def test_missing_java_is_one_sentence(monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FitlakeSetupError, match=r"Java was not found.*install"):
        check_java()


def test_missing_and_corrupt_jars_are_named(tmp_path):
    with pytest.raises(jars.JarCacheError, match=r"Missing JVM jar delta-spark_2\.13-4\.0\.1\.jar.*make jars"):
        jars.check_jars(("delta",), tmp_path)
    for coordinate in jars.JAR_GROUPS["delta"]:
        (tmp_path / jars.jar_file_name(coordinate)).write_bytes(b"not a zip")
    with pytest.raises(jars.JarCacheError, match=r"Corrupt JVM jar .*make jars"):
        jars.check_jars(("delta",), tmp_path)


def _cli(args, env_extra, cwd):
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-m", "fitlake.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_cli_reports_broken_jar_cache_in_one_line(tmp_path):
    proc = _cli(["doctor", "--root", str(tmp_path / "lh")], {"FITLAKE_JARS_DIR": str(tmp_path / "empty")}, tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "Missing JVM jar" in proc.stderr and "make jars" in proc.stderr
    assert "JAVA_GATEWAY_EXITED" not in proc.stderr


def test_cli_reports_missing_java_in_one_line(tmp_path):
    env = {"PATH": str(Path(sys.executable).parent), "JAVA_HOME": ""}
    proc = _cli(["doctor", "--root", str(tmp_path / "lh")], env, tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("fitlake doctor: Java was not found"), proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_a_log_folder_without_a_commit_is_not_a_table(spark, tmp_path):
    """A job killed while creating a table leaves an empty `_delta_log`: it must read as absent, and be creatable."""
    from fitlake import delta_io

    settings = Settings(root=tmp_path)
    ref = settings.table("ops", "run_log")
    Path(ref.path, "_delta_log").mkdir(parents=True)
    assert not delta_io.exists(spark, ref)
    assert register_tables(spark, settings) == []
    delta_io.write(spark.createDataFrame([(1,)], "n INT"), ref)
    assert delta_io.exists(spark, ref)
    assert delta_io.read(spark, ref).count() == 1


def _killed_create_leftovers(path: str) -> None:
    """What a `fitlake run` killed inside a Delta CREATE left behind (seen in the kill -9 suite): the temp file of
    commit 0 and its checksum, both empty, and an empty `_staged_commits`; no commit; and the data files a CREATE
    TABLE ... AS SELECT had written before its commit (then CTAS failed with TABLE_OR_VIEW_ALREADY_EXISTS)."""
    log = Path(path, "_delta_log")
    (log / "_staged_commits").mkdir(parents=True)
    (log / ".00000000000000000000.json.02efeb74-b591-4f5c-a0f9-bc11aa3be678.tmp").touch()
    (log / "..00000000000000000000.json.02efeb74-b591-4f5c-a0f9-bc11aa3be678.tmp.crc").touch()
    part = "part-00000-b9c1638d-d386-4bca-ae6e-c95df896c1ee-c000.snappy.parquet"
    (Path(path) / part).write_bytes(b"PAR1 not a whole file")
    (Path(path) / f".{part}.crc").write_bytes(b"crc")


@pytest.mark.parametrize("create", ["ensure_table", "write", "silver", "gold_ddl"])
def test_a_create_killed_midway_is_redone_by_every_create_path(spark, tmp_path, create):
    """Delta reads such a folder as an existing table it cannot open: CREATE ... IF NOT EXISTS did nothing and
    every later read failed (DELTA_TABLE_NOT_FOUND) until the leftovers are cleared. (A DataFrame write creates
    over them by itself; it is here so that stays true.)"""
    from pyspark.sql.types import IntegerType, StructField, StructType

    from fitlake import delta_io
    from fitlake.gold.job import apply_ddl
    from fitlake.silver.merge import create_with

    settings = Settings(root=tmp_path)
    schema = StructType([StructField("n", IntegerType())])
    layer, name = ("gold", "dim_date") if create == "gold_ddl" else ("silver", "weight_log")
    ref = settings.table(layer, name)
    _killed_create_leftovers(ref.path)
    assert not delta_io.exists(spark, ref)
    if create == "ensure_table":
        delta_io.ensure_table(spark, ref, schema)
    elif create == "write":
        delta_io.write(spark.createDataFrame([(1,)], schema), ref)
    elif create == "silver":  # the silver job's first batch: CREATE TABLE ... AS SELECT
        assert create_with(ref, spark.createDataFrame([(1,)], schema))["insert"] == 1
    else:
        assert "dim_date" in apply_ddl(spark, settings)
    assert delta_io.exists(spark, ref)
    delta_io.read(spark, ref).count()
    assert not delta_io.clear_failed_create(ref.path)  # a table with a commit is never touched


def test_table_version_is_read_from_the_log_file_names_without_spark(tmp_path):
    """The one table-version read (delta_io.table_version): no Spark for a local table, None before a commit, the
    newest commit even after log cleanup removed older ones; temp files and checkpoints are no commit."""
    from fitlake import delta_io

    ref = Settings(root=tmp_path).table("silver", "daily_activity")
    assert delta_io.table_version(None, ref) is None
    log = Path(ref.path, "_delta_log")
    log.mkdir(parents=True)
    assert delta_io.table_version(None, ref) is None
    for version in (0, 1, 2):
        (log / f"{version:020d}.json").write_text("{}\n")
    (log / f"{2:020d}.checkpoint.parquet").write_bytes(b"")
    (log / f".{3:020d}.json.tmp").write_text("{}\n")
    assert delta_io.table_version(None, ref) == 2
    for version in (0, 1):
        (log / f"{version:020d}.json").unlink()
    assert delta_io.table_version(None, ref) == 2


def test_txn_app_id_is_born_once_per_checkpoint_and_kept(tmp_path):
    """The one id maker for idempotent writes (bronze sources, the stream): fresh per checkpoint, then never replaced."""
    from fitlake import delta_io

    marker = tmp_path / "cp" / "_fitlake" / "txn_app_id"
    first = delta_io.txn_app_id(marker, "fitlake-bronze")
    assert first.startswith("fitlake-bronze-") and delta_io.txn_app_id(marker, "fitlake-bronze") == first
    assert delta_io.txn_app_id(tmp_path / "other" / "id", "fitlake-bronze") != first
    marker.write_text("fitlake-bronze-old")  # a lakehouse from older code keeps its id
    assert delta_io.txn_app_id(marker, "fitlake-bronze") == "fitlake-bronze-old"
    assert [p.name for p in marker.parent.iterdir()] == ["txn_app_id"]  # no temp file left
