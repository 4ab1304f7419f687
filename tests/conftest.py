"""One session-scoped, Delta-enabled local SparkSession for the whole suite (UI off, 2 shuffle partitions, UTC)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
KAGGLE = SHARED / "datasets" / "fitbit-kaggle" / "2016-04-12_2016-05-12"
FIXTURES = REPO / "fixtures"

os.environ.setdefault("FITLAKE_JARS_DIR", str(REPO / ".cache" / "jars"))
os.environ.setdefault("FITLAKE_SHUFFLE_PARTITIONS", "2")
os.environ.setdefault("FITLAKE_DRIVER_MEMORY", "3g")
# The fixture landing and the generator's day folders are month-first files whose days are all 12 or less: their own
# values cannot decide the date order (fitlake.bronze.formats), so the suite says it, as a user would. Tests of the
# undecided case pass Settings(date_order=None) or clear this.
os.environ.setdefault("FITLAKE_DATE_ORDER", "month_first")


@pytest.fixture(scope="session")
def spark_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lakehouse")


@pytest.fixture(scope="session")
def spark(spark_root):
    from fitlake.config import Settings
    from fitlake.spark import INTERPRETED, get_spark

    # The suite's tables are tiny, as a small `fitlake run`, `train` or `score` is: plans interpreted, not compiled,
    # and the JIT stopped at C1 (spark.small_input_options). tests/silver + tests/gold: 205.2 -> 145.3 CPU s.
    session = get_spark(
        Settings(root=spark_root),
        app_name="fitlake-tests",
        conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2", **INTERPRETED},
        jit="c1",
    )
    _rows_through_arrow(session)
    yield session
    session.stop()


TESTS = Path(__file__).resolve().parent


def _rows_through_arrow(session) -> None:
    """The test code's ``spark.createDataFrame(rows, schema)`` (a list of tuples or dicts, and a DDL string or a
    StructType) builds its frame with ``fitlake.frames.local_frame``: Arrow, no Python worker, as fitlake builds its
    own small frames. Same rows, same types (tests/test_frames.py checks the two against each other, calling
    PySpark's method itself), and it is only how a test makes its INPUT: the code under test runs unchanged.
    PySpark's path pickles the rows through a Python worker: a worker fork per JVM and ~0.7 s more per input
    (tests/ml/test_ml_features, test_ml_monitoring, streaming/test_streaming_transforms, exports/test_completeness,
    ops/test_suppress together: 39.9 -> 19.0 s, 34.5 -> 16.3 CPU s). Only calls made from a file under tests/ go
    this way (fitlake's own calls keep PySpark's path); without a schema, with Row objects, or with values Arrow
    refuses for the schema, PySpark's path decides as before."""
    from pyspark.sql import Row, SparkSession
    from pyspark.sql.types import StructType

    from fitlake.frames import local_frame

    def create(data, schema=None, *args, **kwargs):
        if (not args and not kwargs and isinstance(data, list) and isinstance(schema, (str, StructType))
                and sys._getframe(1).f_code.co_filename.startswith(str(TESTS))
                and not any(isinstance(row, Row) for row in data)):
            try:
                return local_frame(session, data, schema)
            except Exception:  # noqa: BLE001 - Arrow cannot hold these values as typed: PySpark's path decides
                pass
        return SparkSession.createDataFrame(session, data, schema, *args, **kwargs)

    session.createDataFrame = create


@pytest.fixture()
def settings(tmp_path):
    """Settings with a fresh lakehouse root per test (the session is shared; tables live under this root)."""
    from fitlake.config import Settings

    return Settings(root=tmp_path / "lakehouse")


@pytest.fixture(scope="session")
def kaggle_dir() -> Path:
    if not KAGGLE.is_dir():
        pytest.skip(f"real Fitbit export not present at {KAGGLE}")
    return KAGGLE


# ---- scheduling: heaviest files first -------------------------------------------------------------------------------
# `make test` runs `-n 2 --dist loadfile --no-loadscope-reorder`: a whole file goes to one worker, in collection order.
# xdist's default order (most tests first) ran the few-test, many-minute files (kill -9 chains, the stand-in bundle
# run, maintain/forget) last, so one worker ran alone for many minutes at the end. Heaviest first ("longest processing
# time first") ends the two workers together. The weight of a file is its seconds in the last run here (setup + call
# + teardown of its tests, kept in pytest's cache under DURATIONS_KEY by the controlling process); a file not in the
# cache gets the figure below (a fresh clone's `make test` alone on a 2-core machine, rounded), else 0. The order
# inside a file never changes (some files' tests run in order on one lakehouse).
DURATIONS_KEY = "fitlake/file_seconds"
KNOWN_SECONDS = {  # a fresh clone's `make test` alone on 29005a4 (/tmp/fc, 576 passed in 600.2 s), seconds per file
    "tests/ops/test_maintain_forget.py": 170,  # builds the shared incremental baseline (tests/baselines.py)
    "tests/bundle/test_standin_run.py": 139,
    "tests/ml/test_ml_pipeline.py": 134,
    "tests/faults/test_kill9.py": 95,  # reads the same shared run (built by whichever file asks first)
    "tests/streaming/test_streaming_kafka.py": 71,
    "tests/bundle/test_batch_job_equals_run.py": 61,
    "tests/faults/test_stream_kill9.py": 60,
    "tests/bad_input/test_bad_corpus.py": 55,
    "tests/dashboard/test_browser.py": 54,
    "tests/test_bench_reference.py": 38,
    "tests/exports/test_damaged_exports.py": 32,
    "tests/ml/test_ml_personas_generated.py": 27,
    "tests/silver/test_silver_merge.py": 27,
    "tests/pipeline/test_pipeline_kaggle.py": 23,
    "tests/bundle/test_local_runner.py": 17,
    "tests/silver/test_silver_change_feed.py": 17,
    "tests/pipeline/test_pipeline_fixture_landing.py": 15,
    "tests/streaming/test_streaming_job.py": 14,
    "tests/bronze/test_plain_csv.py": 12,
    "tests/streaming/test_streaming_hostile.py": 10,
    "tests/silver/test_silver_batches.py": 10,
    "tests/test_foundation.py": 10,
    "tests/bronze/test_bronze_ingest.py": 9,
    "tests/ops/test_ops_hostile_root.py": 8,
    "tests/gold/test_gold_completeness.py": 8,
}


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _file_seconds(config) -> dict[str, float]:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "fitlake_file_seconds" in workerinput:
        return workerinput["fitlake_file_seconds"]  # the controller's figures: every worker sorts alike
    cached = config.cache.get(DURATIONS_KEY, {}) if getattr(config, "cache", None) else {}
    return {**KNOWN_SECONDS, **cached}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):  # xdist controller -> each worker, before it collects
    node.workerinput["fitlake_file_seconds"] = _file_seconds(node.config)


def pytest_collection_modifyitems(session, config, items):
    seconds = _file_seconds(config)
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        first.setdefault(_file_of(item.nodeid), i)
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (-seconds.get(_file_of(item.nodeid), 0), first[_file_of(item.nodeid)],
                                 order[id(item)]))


_spent: dict[str, float] = {}


def pytest_runtest_logreport(report):
    if getattr(report, "duration", None) is not None:
        name = _file_of(report.nodeid)
        _spent[name] = _spent.get(name, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if getattr(config, "workerinput", None) is not None or not _spent or getattr(config, "cache", None) is None:
        return  # workers report to the controller, which records
    cached = dict(config.cache.get(DURATIONS_KEY, {}))
    cached.update({name: round(s, 1) for name, s in _spent.items()})
    config.cache.set(DURATIONS_KEY, cached)
