"""Which Delta table versions a trainer read: every read of a model input inside ``recording()`` is pinned to the
table's current version (read ``versionAsOf`` it) and remembered, so the run can log each input as an MLflow dataset
(Delta path locally, Unity Catalog table name on Databricks, with the version) and tag the registered version."""

from __future__ import annotations

import contextvars
import functools
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.sql import DataFrame

from fitlake.config import TableRef

_READS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("fitlake_ml_reads", default=None)


@dataclass(frozen=True)
class TableInput:
    """One Delta table version a model was trained on."""

    logical: str  # layer.name, as fitlake.config names it
    full_name: str  # layer.name locally, catalog.schema.layer_name on Databricks
    path: str | None  # Delta folder locally, None in Unity Catalog
    version: int

    @property
    def location(self) -> str:
        return f"{self.path or self.full_name}@v{self.version}"

    def tag_key(self) -> str:
        return f"input.{self.logical}"


def current_version(spark, ref: TableRef) -> int:
    from fitlake import delta_io

    version = delta_io.table_version(spark, ref)
    if version is None:
        raise FileNotFoundError(f"{ref.full_name} has no Delta commit yet")
    return version


def read_pinned(spark, ref: TableRef) -> tuple[DataFrame, TableInput]:
    """The table as of its current version, and that version: later commits do not change what was read."""
    from fitlake import delta_io

    version = current_version(spark, ref)
    df = delta_io.read_as_of(spark, ref, version)
    return df, TableInput(f"{ref.layer}.{ref.name}", ref.full_name, ref.path, version)


def note(df: DataFrame, table: TableInput) -> None:
    """Remember a read for the innermost ``recording()`` (no-op outside one, e.g. while scoring)."""
    reads = _READS.get()
    if reads is not None:
        reads.setdefault(table.logical, (df, table))


@contextmanager
def recording():
    """Collect the inputs read inside the block: yields a dict ``logical name -> (DataFrame, TableInput)``."""
    reads: dict = {}
    token = _READS.set(reads)
    try:
        yield reads
    finally:
        _READS.reset(token)


def current_reads() -> dict:
    """The reads of the innermost ``recording()`` so far (empty outside one)."""
    return dict(_READS.get() or {})


def records(fn):
    """Run a trainer inside its own ``recording()``, so its run logs exactly the tables that trainer read."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with recording():
            return fn(*args, **kwargs)

    return wrapper


def mlflow_dataset(df: DataFrame, table: TableInput, digest: str | None = None, name: str | None = None):
    """An MLflow dataset whose source is the Delta table at the version read (path locally, UC name remotely).

    Its profile (the row count MLflow shows) is counted once, by Spark SQL, and kept: MLflow's own profile runs a
    Python RDD job (Python workers, up to 5 s) every time the dataset is serialized, and ``log_metrics(dataset=)``
    serializes it once per metric (29 such jobs, 52 s of a 330 s `fitlake train` on the real export)."""
    import mlflow.data
    from mlflow.data.spark_dataset import SparkDataset

    class CountedSparkDataset(SparkDataset):
        _profile = None

        @property
        def profile(self):
            if self._profile is None:
                self._profile = {"approx_count": int(self.df.count())}
            return self._profile

    where = {"path": table.path} if table.path is not None else {"table_name": table.full_name}
    digest = digest or hashlib.sha256(table.location.encode()).hexdigest()[:16]
    dataset = mlflow.data.from_spark(df, **where, version=str(table.version), name=name or table.full_name,
                                     digest=digest)
    dataset.__class__ = CountedSparkDataset  # same state, a profile computed once
    return dataset
