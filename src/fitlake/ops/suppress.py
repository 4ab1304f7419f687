"""The suppression list: salted hashes of erased user ids, which ingestion consults so that re-delivered files do
not bring an erased person back.

Only hashes are stored (``ops.suppressed_users``), never the id: the list itself must not hold the personal data it
protects. The salt is a per-lakehouse random secret in ``<state>/_erasure/salt`` (locally ``<root>/_erasure/salt``,
on Databricks ``/Volumes/<catalog>/<schema>/state/_erasure/salt``), created by the first ``fitlake forget``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fitlake import delta_io
from fitlake.config import Settings

SUPPRESSED = ("ops", "suppressed_users")


def salt_path(settings: Settings) -> Path:
    return settings._state_dir() / "_erasure" / "salt"


def read_salt(settings: Settings) -> str | None:
    path = salt_path(settings)
    return path.read_text().strip() if path.is_file() else None


def ensure_salt(settings: Settings) -> str:
    """The lakehouse's erasure salt, created once (atomically: a kill -9 leaves either no salt or a whole one)."""
    existing = read_salt(settings)
    if existing:
        return existing
    path = salt_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".salt.{os.getpid()}.tmp")
    tmp.write_text(secrets.token_hex(32) + "\n")
    os.replace(tmp, path)
    return read_salt(settings)


def user_hash(salt: str, user_id: int | str) -> str:
    """sha256 of salt + the id's decimal text; the same value ``hash_column`` computes in Spark."""
    return hashlib.sha256(f"{salt}{str(user_id).strip()}".encode()).hexdigest()


def hash_column(salt: str, column: str) -> Column:
    return F.sha2(F.concat(F.lit(salt), F.trim(F.col(column).cast("string"))), 256)


ID_COLUMNS = ("user_id", "Id")  # typed/silver/gold and activity/events bronze; Fitbit export bronze


def drop_suppressed(hashes: frozenset[str] | set[str], salt: str | None,
                    columns: tuple[str, ...] = ID_COLUMNS) -> Callable[[DataFrame], DataFrame]:
    """``df.transform(drop_suppressed(...))``: drop the rows whose id (the first of ``columns`` the frame has) is a
    suppressed (erased) id.

    Rows whose id is null or unparseable are kept (they are no one's data to suppress; silver quarantines them).
    Identity when nothing is suppressed, so the common case adds no work to the plan.
    """

    def transform(df: DataFrame) -> DataFrame:
        column = next((c for c in columns if c in df.columns), None)
        if not hashes or not salt or column is None:
            return df
        return _drop(df, F.col(column), hashes, salt)

    return transform


def _drop(df: DataFrame, ident: Column, hashes: frozenset[str] | set[str], salt: str) -> DataFrame:
    hashed = F.sha2(F.concat(F.lit(salt), F.trim(ident.cast("string"))), 256)
    return df.where(ident.isNull() | ~hashed.isin(sorted(hashes)))


def drop_suppressed_json(hashes: frozenset[str] | set[str], salt: str | None,
                         column: str = "value") -> Callable[[DataFrame], DataFrame]:
    """Like ``drop_suppressed`` for raw JSON text (a Kafka record's ``value``): the id is its ``$.user_id``."""

    def transform(df: DataFrame) -> DataFrame:
        if not hashes or not salt or column not in df.columns:
            return df
        return _drop(df, F.get_json_object(F.col(column), "$.user_id"), hashes, salt)

    return transform


def suppressed_hashes(spark, settings: Settings) -> frozenset[str]:
    ref = settings.table(*SUPPRESSED)
    if not delta_io.exists(spark, ref):
        return frozenset()
    if delta_io.rs_readable(ref):  # local: straight from the Delta log and its one small file, no Spark job
        from deltalake import DeltaTable

        return frozenset(DeltaTable(ref.path).to_pyarrow_table(columns=["user_hash"]).column(0).to_pylist())
    return frozenset(r[0] for r in delta_io.read(spark, ref).select("user_hash").collect())


def suppression(spark, settings: Settings) -> Callable[[DataFrame], DataFrame]:
    """The hook ingestion calls: ``df.transform(suppression(spark, settings))`` (bronze rows or typed rows)."""
    salt = read_salt(settings)
    if salt is None:  # no erasure ever ran on this lakehouse: nothing to read
        return lambda df: df
    return drop_suppressed(suppressed_hashes(spark, settings), salt)


def stream_suppression(spark, settings: Settings, source: str) -> Callable[[DataFrame], DataFrame]:
    """The live stream's hook, called once per micro-batch (an erasure while the stream runs holds from the next
    batch on): ``batch.transform(...)`` on the batch's bronze-shaped rows — the file source's ``user_id`` text, or a
    Kafka record's JSON ``value`` — before anything of the batch is written (bronze, quarantine, windows, alerts,
    silver)."""
    salt = read_salt(settings)
    if salt is None:
        return lambda df: df
    hashes = suppressed_hashes(spark, settings)
    return drop_suppressed_json(hashes, salt) if source == "kafka" else drop_suppressed(hashes, salt)
