"""The one place a SparkSession is made.

Locally: Delta's SQL extension and catalog, the project-local jar cache, warehouse under the lakehouse root, UTC,
few shuffle partitions, UI off. The catalog is Spark's in-memory one, rebuilt from the Delta folders under the
root (``register_tables``): Delta logs are the source of truth, and an embedded Derby metastore would let only
one process (say, the streaming job) hold the catalog while the batch job waits. On Databricks we reuse the
runtime's session and add nothing.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

from fitlake import cds, jars, localfs, py4j_lookups
from fitlake.cds import java_executable  # noqa: F401 - part of this module's API
from fitlake.config import TABLES, Settings, TableRef, load_settings, on_databricks, standin_root
from fitlake.sqltext import jvm_option, jvm_word, string_literal


LOG4J2 = Path(__file__).with_name("log4j2.properties").as_uri()


class FitlakeSetupError(RuntimeError):
    """A setup problem, said in one sentence with its fix."""


def check_java() -> str:
    java = java_executable()
    if java is None:
        raise FitlakeSetupError(
            "Java was not found: Spark needs a JDK 17 — install one (e.g. `apt-get install openjdk-17-jdk-headless`) "
            "or set JAVA_HOME to it."
        )
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FitlakeSetupError(f"Java at {java} does not run ({e}): reinstall a JDK 17 or fix JAVA_HOME.") from e
    if out.returncode != 0:
        raise FitlakeSetupError(f"Java at {java} does not run: reinstall a JDK 17 or fix JAVA_HOME.")
    return java


def local_conf(settings: Settings, jar_groups: tuple[str, ...] = ("delta",), ui: bool = False,
               jit: str = "full") -> dict[str, str]:
    root = settings.root
    cores = os.cpu_count() or 2
    return {
        "spark.jars": ",".join(str(p) for p in jars.check_jars(jar_groups)),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": str(root / "_warehouse"),
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": " ".join([  # each path quoted: Spark splits this string like a shell
            "-Duser.timezone=UTC", jvm_option("derby.system.home", root / "_derby"),
            jvm_option("log4j2.configurationFile", LOG4J2), *jit_options(jit), *gc_options(),
            *(jvm_word(w) for w in extra_jvm_options()),
        ]),
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.sql.shuffle.partitions": os.environ.get("FITLAKE_SHUFFLE_PARTITIONS", str(max(2, cores * 2))),
        "spark.default.parallelism": str(max(2, cores * 2)),
        # 3.5g: B1 at 1x in the same wall time as with 4g, peak RSS of the process tree ~3.5 GB instead of ~4.1
        # (benchmarks/results/rss-driver-memory-2026-12-03-s27.jsonl); 3g was slower
        "spark.driver.memory": os.environ.get("FITLAKE_DRIVER_MEMORY", "3584m"),
        "spark.ui.enabled": "true" if ui else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.adaptive.enabled": "true",
        # Small local tables: fewer partitions when Delta reconstructs a snapshot.
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
        # PySpark's "DataFrame query context": with it on, every Column and functions call made while a session is
        # active also captures the Python call site and sends it to the JVM (10 more Py4J round trips: F.col
        # 2.2 -> 0.8 ms). Whether it is on was decided by which thread made PySpark's first such call; now: off.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        **event_log_conf(),
    }


# Local Spark is one JVM (driver and executor) whose work on small inputs is mostly planning, Delta log handling and
# compiling the JVM's own hot code, each done once. Two JVM settings cut that CPU (benchmarks/results/README.md,
# "JVM settings"): the JIT stopped at C1 (``jit="c1"``: `fitlake run`, `train` and `score` ask for it when their
# input is small enough to be interpreted, ``small_input_options``; C2's faster code pays off over more data) and the
# parallel collector instead of G1 (fewer concurrent GC threads competing for 2 cores). C1's compiled frames are
# larger: with the default 1 MB thread stack, MLlib training overflowed a task thread's stack while deserializing a
# long lineage (java.lang.StackOverflowError, fatal to the local JVM), so C1 comes with an 8 MB stack (reserved, not
# committed, per thread). C1 alone also gets the JDK's small default code cache (48 MB): a run with tables side by
# side filled it, the JIT stopped, and the JVM then failed ("Out of space in CodeCache for method handle
# intrinsic"); so C1 keeps the full JIT's 240 MB. FITLAKE_JIT=c1|full and FITLAKE_GC=parallel|g1 override.
def jit_options(jit: str = "full") -> list[str]:
    jit = os.environ.get("FITLAKE_JIT", jit).lower()
    return ["-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=240m", "-Xss8m"] if jit == "c1" else []


def gc_options() -> list[str]:
    return ["-XX:+UseParallelGC"] if os.environ.get("FITLAKE_GC", "parallel").lower() == "parallel" else []


def extra_jvm_options() -> list[str]:
    """``FITLAKE_JAVA_OPTIONS``: more options for the local driver JVM, split like a shell (e.g. a Java Flight
    Recorder recording, or a JIT setting to compare), after fitlake's own. ``JDK_JAVA_OPTIONS`` would also reach
    the launcher JVM spark-submit starts first, and every JVM a test or the bench starts."""
    return shlex.split(os.environ.get("FITLAKE_JAVA_OPTIONS", ""))


# Spark compiles every query to Java (whole-stage code generation, then Janino): per Java Flight Recorder, about a
# third of the JVM's CPU in a `fitlake run` on the real export (2.7 MB) went to compiling code that then ran over a
# few thousand rows. Below `Settings.interpreted_max_bytes` of input Spark interprets the plans instead; above it,
# compiled code pays for itself, so the default stays. Interpreted, common subexpressions are not shared in the code
# but through a per-row cache (SubExprEvaluationRuntime: a Guava cache cleared and filled again for every row); per
# Java Flight Recorder that cache took 14% of the executor's samples in a +1-day run at 1x, almost half inside Delta's
# per-file statistics (min/max of each column of every row written), so it is off: a repeated subexpression is
# evaluated again instead.
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN",
               "spark.sql.subexpressionElimination.enabled": "false"}

# How a small MERGE runs (session confs, set around it and restored after: a stream micro-batch's MERGEs, and
# silver's and gold's small runs, SMALL_STAGE_CONF):
# - the source is read as it is instead of first being copied (Delta's ``materializeSource``: 4 Spark jobs and 1-2 s
#   per MERGE here); only for sources that give the same rows twice: the batch's cached new events (silver, the only
#   table they are looked up in, is written after every MERGE of the batch) or rows held in the driver;
# - no adaptive execution: on a few thousand rows AQE runs each shuffle stage as a Spark job of its own (9 jobs to
#   find a MERGE's touched files, 7 to rewrite them); planned up front, each phase is one job, and one shuffle
#   partition (a batch touches a few thousand windows, a few hundred daily totals) writes one file, not one per core.
SMALL_MERGE_CONF = {
    "spark.databricks.delta.merge.materializeSource": "none",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.shuffle.partitions": "1",
}

# How silver's and gold's queries run when what the stage has to read is small (a local lakehouse, bytes not yet read
# at most ``Settings.interpreted_max_bytes``: ``silver.job.silver_conf``, ``gold.job.gold_conf``): planned up front
# instead of adaptively (AQE runs every shuffle stage of a query as a Spark job of its own and re-plans the rest after
# each: a +1-day gold at 0.1x ran ~400 jobs; silver's key survey of a new day 3 jobs instead of 1), one shuffle
# partition (a few thousand rows per table; one file per append), no broadcast joins (each broadcast is a Spark job
# of its own; with one partition a sort-merge join costs less), and a MERGE reads its source as it is (upsert's
# classified rows, persisted: the same rows twice) instead of copying it first. SMALL_MERGE_CONF plus no broadcast.
SMALL_STAGE_CONF = {**SMALL_MERGE_CONF, "spark.sql.autoBroadcastJoinThreshold": "-1"}

# How one silver batch runs when it reads more than BIG_BATCH_BYTES of bronze Parquet (a first load of 10x: one
# bronze version of 86 M rows of an hourly table is one batch; bronze's Parquet holds ~5 bytes a row, so Spark's
# 128 MB split is ~24 M rows). Silver's key survey (``silver.job.survey_keys``: a hash aggregation by key, every key
# distinct) then outgrew a task's memory and sorted and spilled on both sides of its shuffle (21 CPU s at 1x, 430
# at 10x). 16 MB splits (~3 M rows a task) and up to 200 shuffle partitions that AQE coalesces by size: 172 CPU s
# at 10x (benchmarks/results/survey-partitions-10x-2026-12-03-s29.jsonl; either change alone: 404 and 451).
# Only there: set for the whole session (gold's many small shuffles, and the persisted keys every gold builder
# reads back in 200 pieces), gold's first load at 1x took 3.4x as long.
BIG_BATCH_BYTES = 128 << 20
BIG_BATCH_CONF = {"spark.sql.files.maxPartitionBytes": str(16 << 20),
                  "spark.sql.adaptive.coalescePartitions.initialPartitionNum": "200"}


@contextlib.contextmanager
def session_conf(spark, conf: dict[str, str]) -> Iterator[None]:
    """``conf`` set on ``spark``'s session inside the block, each key's previous value (or its absence) restored
    after: the session may be shared (tests, the bench, a stream's micro-batches)."""
    previous = {k: spark.conf.get(k, None) for k in conf}
    for k, v in conf.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in previous.items():
            spark.conf.unset(k) if v is None else spark.conf.set(k, v)


def execution_conf(settings: Settings, input_bytes: int | None) -> dict[str, str]:
    """The confs for a session about to process ``input_bytes`` (None: unknown, Spark's defaults)."""
    if input_bytes is None or input_bytes > settings.interpreted_max_bytes:
        return {}
    return dict(INTERPRETED)


def small_input_options(settings: Settings, input_bytes: int | None) -> tuple[dict[str, str], str]:
    """``(conf, jit)`` for ``get_spark`` in a command about to process ``input_bytes``: a small input gets its plans
    interpreted and the JIT stopped at C1 (both pay off only over much data), anything else Spark's defaults."""
    conf = execution_conf(settings, input_bytes)
    return conf, "c1" if conf else "full"


def event_log_conf() -> dict[str, str]:
    """``FITLAKE_EVENT_LOG_DIR``: Spark's event log into that folder (for the Spark history server, and for
    ``fitlake bench --profile``, which attributes every Spark job to the table that ran it)."""
    folder = os.environ.get("FITLAKE_EVENT_LOG_DIR")
    if not folder:
        return {}
    Path(folder).mkdir(parents=True, exist_ok=True)
    return {"spark.eventLog.enabled": "true", "spark.eventLog.dir": Path(folder).resolve().as_uri()}


def own_jvm_conf(options: dict[str, str], java: str) -> dict[str, str]:
    """``options`` for a JVM fitlake starts itself on one machine (a local master: ``get_spark``, or the bundle
    runner's spark-submit): the local file system without forks (localfs.py) and the class data archive (cds.py,
    dumped with that file system's jar on the class path, so the JVM uses it only with both)."""
    out = {**options, **localfs.spark_conf(jars.jar_dir())}
    words = [jvm_word(w) for w in cds.jvm_options(cds.archive_for(jars.jar_dir(), java, out))]
    out["spark.driver.extraJavaOptions"] = " ".join([out.get("spark.driver.extraJavaOptions", ""), *words]).strip()
    return out


def get_spark(
    settings: Settings | None = None,
    app_name: str = "fitlake",
    jar_groups: tuple[str, ...] = ("delta",),
    ui: bool = False,
    conf: dict[str, str] | None = None,
    jit: str = "full",
):
    """Return the SparkSession for ``settings``' target (Databricks: the active one, unchanged). ``jit="c1"``: a
    local JVM for ETL only (``jit_options``); a JVM already running keeps its settings."""
    from pyspark.sql import SparkSession

    if on_databricks():
        active = SparkSession.getActiveSession()
        return active if active is not None else SparkSession.builder.getOrCreate()

    py4j_lookups.install()  # a local JVM: repeated Py4J class and method lookups answered once
    settings = settings or load_settings()
    if not settings.is_local and standin_root() is not None:  # tests only: dev/prod against the stand-in workspace
        import importlib

        return importlib.import_module("fitlake_bundle.standin").get_spark(settings, app_name, jar_groups, conf)
    java = check_java()
    try:
        options = local_conf(settings, jar_groups, ui=ui, jit=jit)
    except jars.JarCacheError as e:
        raise FitlakeSetupError(str(e)) from e
    master = os.environ.get("FITLAKE_SPARK_MASTER")
    launched_here = "PYSPARK_GATEWAY_PORT" not in os.environ
    if launched_here and not master:
        options = own_jvm_conf(options, java)
    options.update(conf or {})
    try:
        settings.root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FitlakeSetupError(
            f"the lakehouse root {str(settings.root)!r} cannot be created ({e.strerror or e}): pass a writable "
            "folder with --root or FITLAKE_ROOT."
        ) from e
    if not launched_here and not master:
        # launched by spark-submit (YARN, Kubernetes): its --master, driver host and --conf win over the local ones
        for key in ("spark.driver.host", "spark.driver.bindAddress", "spark.driver.memory"):
            options.pop(key, None)
        builder = SparkSession.builder.appName(app_name)
    else:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # bind to loopback, and no hostname warning
        builder = SparkSession.builder.master(master or "local[*]").appName(app_name)
    for k, v in options.items():
        builder = builder.config(k, v)
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # py4j/pyspark raise several types here; translate them all into one sentence
        raise FitlakeSetupError(start_failure_message(e, settings.root)) from e
    spark.sparkContext.setLogLevel(os.environ.get("FITLAKE_SPARK_LOG_LEVEL", "ERROR"))
    return spark


_PATH_ERRORS = ("URISyntaxException", "Relative path in absolute URI", "Illegal character", "Incomplete HDFS URI",
                "AccessDeniedException", "Permission denied", "Read-only file system", "No such file or directory")


def start_failure_message(error: BaseException, root) -> str:
    """One sentence for a failed Spark start that blames what failed: the lakehouse root when the error is about a
    path (or names the root), else Java and the jar cache."""
    text = str(error)
    first = text.splitlines()[0] if text else ""
    detail = f"{type(error).__name__}: {first}"
    root_text = str(root)
    if root_text in text or any(marker in text for marker in _PATH_ERRORS):
        return (f"Spark could not use the lakehouse root {root_text!r} ({detail}): check that the folder exists, is "
                "writable, and that its path is one Hadoop accepts (a ':' in a folder name is not); or pass another "
                "with --root.")
    return (f"Spark could not start ({detail}): check that `java -version` shows 17 and that the jars in "
            f"{jars.jar_dir()} are intact (`make jars`).")


# (application id, table name) -> the Delta folder that name is bound to in this session's in-memory catalog.
_BOUND: dict[tuple[str, str], str] = {}


def release_stale_name(spark, ref: TableRef) -> None:
    """Drop ``layer.name`` from the session catalog when it points at another lakehouse root's folder.

    One session can serve several roots (tests, benchmarks); ``CREATE TABLE IF NOT EXISTS`` would otherwise keep the
    name bound to the first root. The entries are external tables, so dropping one never touches data.
    """
    if ref.path is None:
        return
    key = (spark.sparkContext.applicationId, ref.full_name)
    bound = _BOUND.get(key)
    if bound is not None and bound != ref.path:
        spark.sql(f"DROP TABLE IF EXISTS {ref.full_name}")
        del _BOUND[key]


def register_table(spark, ref: TableRef) -> None:
    """Make a local Delta folder queryable as ``layer.name``; a no-op on Databricks (Unity Catalog owns names)."""
    if ref.path is None:
        return
    key = (spark.sparkContext.applicationId, ref.full_name)
    if _BOUND.get(key) == ref.path and spark.catalog.tableExists(ref.full_name):
        return
    release_stale_name(spark, ref)
    # Asked of the catalog first (a lookup; each SQL statement is parsed, analysed and run: 3 per table and ~100
    # of a small `fitlake run`'s ~300 SQL executions were these), so a name is created or dropped only when needed.
    if not spark.catalog.databaseExists(ref.layer):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {ref.layer}")
    if key not in _BOUND and spark.catalog.tableExists(ref.full_name):
        # bound before this process tracked it (or by SQL elsewhere): rebind to be sure it points here
        spark.sql(f"DROP TABLE IF EXISTS {ref.full_name}")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {ref.full_name} USING DELTA LOCATION {string_literal(ref.path)}")
    _BOUND[key] = ref.path


def register_tables(spark, settings: Settings) -> list[TableRef]:
    """Register every existing Delta table under the lakehouse root in the session catalog."""
    if not settings.is_local:
        return []
    from fitlake.delta_log import has_commit

    found = []
    for layer, names in TABLES.items():
        for name in names:
            ref = settings.table(layer, name)
            if has_commit(ref.path):
                register_table(spark, ref)
                found.append(ref)
    return found
