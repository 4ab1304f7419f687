"""Small state files of a bronze source, inside its checkpoint folder (reset together with it).

Shared by the local planned batches (``local_batch``) and Auto Loader's stream (``autoloader``); imports neither.
"""

from __future__ import annotations

import os
from pathlib import Path

from fitlake import delta_io

STATE_DIR = "_fitlake"


def txn_app_id(checkpoint: str) -> str:
    """The id of the source's idempotent Delta writes, kept in ``<checkpoint>/_fitlake/txn_app_id``."""
    return delta_io.txn_app_id(Path(checkpoint, STATE_DIR, "txn_app_id"), "fitlake-bronze")


def pending_batch(checkpoint: str) -> int | None:
    """The batch the checkpoint shows as planned but not committed (a crash mid-batch), if any."""
    planned, committed = (batch_ids(Path(checkpoint, d)) for d in ("offsets", "commits"))
    if planned and max(planned) > max(committed, default=-1):
        return max(planned)
    return None


def batch_ids(folder: Path) -> list[int]:
    return [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []


def read_state(checkpoint: str, key: str) -> str | None:
    path = Path(checkpoint, STATE_DIR, key)
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def write_state(checkpoint: str, key: str, value: str) -> None:
    folder = Path(checkpoint, STATE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.tmp-{os.getpid()}"
    tmp.write_text(value, encoding="utf-8")
    os.replace(tmp, folder / key)
