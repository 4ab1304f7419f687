"""Leakage-free splits. Per-day rows of one user are strongly correlated, so a random row split would let the model
see a user's neighbouring days at training time and overstate every metric. We split by time (train on earlier
days, test on later ones: what the model faces in production) for the per-day models, and by user for personas,
whose rows are users.
"""

from __future__ import annotations

import datetime as dt
import math

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

TRAIN_FRACTION = 0.75


class NotEnoughData(ValueError):
    """The inputs cannot support a train/test split; the trainer skips the model with this message."""


def time_cutoff(df: DataFrame, date_col: str = "date", train_fraction: float = TRAIN_FRACTION) -> dt.date:
    """Last training day: the first ``floor(n * train_fraction)`` of the ``n`` distinct days train, the rest test."""
    days = sorted(r[0] for r in df.select(date_col).where(F.col(date_col).isNotNull()).distinct().collect())
    if len(days) < 2:
        raise NotEnoughData(f"a time split needs at least 2 distinct days in {date_col!r}, found {len(days)}")
    n_train = min(len(days) - 1, max(1, math.floor(len(days) * train_fraction)))
    return days[n_train - 1]


def split_by_time(df: DataFrame, cutoff: dt.date, date_col: str = "date") -> tuple[DataFrame, DataFrame]:
    """Rows on or before ``cutoff`` train, rows after it test (rows without a date are in neither)."""
    return df.where(F.col(date_col) <= F.lit(cutoff)), df.where(F.col(date_col) > F.lit(cutoff))


def is_holdout_user(test_fraction: float = 1 - TRAIN_FRACTION, salt: str = "fitlake"):
    """A stable per-user coin: the same user lands on the same side on every run and as new users arrive."""
    bucket = F.pmod(F.xxhash64(F.col("user_id").cast("bigint"), F.lit(salt)), F.lit(1000))
    return bucket < F.lit(int(round(test_fraction * 1000)))


def split_by_user(df: DataFrame, test_fraction: float = 1 - TRAIN_FRACTION,
                  salt: str = "fitlake") -> tuple[DataFrame, DataFrame]:
    """All rows of a user go to the same side, so no user is both learned from and evaluated on."""
    holdout = is_holdout_user(test_fraction, salt)
    return df.where(~holdout), df.where(holdout)
