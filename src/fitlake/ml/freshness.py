"""``fitlake train`` / ``fitlake score`` with nothing new: decided before Spark starts, from files alone.

What a train or score run depends on, for a local lakehouse: the Delta versions of the tables the models read
(from each ``_delta_log``'s file names), the ML code (a hash of ``fitlake/ml/*.py``), the command's arguments, the
MLflow registry (every version and alias of the fitlake models, read from the local SQLite store) and, for scoring,
the Delta versions of the gold tables it writes. A run that finished records that snapshot, taken *before* it
started (so a commit made while it ran makes the next run do the work); the next run with an equal snapshot has
nothing to do and says so without starting a JVM. Anything unreadable counts as "changed": the fallback is the full
run, whose own checks (input fingerprints, incremental MERGEs) keep it idempotent.

No Spark, no MLflow, no pyspark import here: this runs in the CLI process before either is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

from fitlake import delta_log
from fitlake.config import Settings

# Every table a trainer or scorer reads (fitlake.ml.data, train.py, scoring.py).
INPUT_TABLES = (("silver", "activity"), ("silver", "daily_activity"), ("gold", "fact_daily_activity"),
                ("gold", "fact_sleep"))
# What scoring writes: a changed or deleted output table is rescored.
SCORE_OUTPUTS = (("gold", "user_personas"), ("gold", "predicted_calories"), ("gold", "predicted_activity_type"),
                 ("gold", "activity_recommendations"), ("gold", "model_monitoring"))
MODEL_KEYS = ("personas", "activity", "calories", "calories_fitbit", "recommend")  # train.MODELS, CALORIES_SPECS
STATE_FILE = "_fitlake_inputs.json"


def code_identity() -> str:
    """A hash of the ML package's sources: changed training or scoring code is never a no-op."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def registry_snapshot(settings: Settings) -> list | None:
    """Every (model, version, stage) and (model, alias, version) of the fitlake models in the local MLflow store,
    read with sqlite3 (importing MLflow alone takes seconds); None when there is no readable store."""
    db = settings.root / "mlflow.db"
    if not db.is_file():
        return None
    names = [settings.model_name(k) for k in MODEL_KEYS]
    marks = ",".join("?" * len(names))
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            versions = con.execute(f"SELECT name, version, current_stage FROM model_versions WHERE name IN ({marks})",
                                   names).fetchall()
            aliases = con.execute(f"SELECT name, alias, version FROM registered_model_aliases WHERE name IN ({marks})",
                                  names).fetchall()
    except sqlite3.Error:
        return None
    return sorted([["version", *map(str, v)] for v in versions] + [["alias", *map(str, a)] for a in aliases])


def snapshot(settings: Settings, command: str, args: dict) -> dict | None:
    """What a ``command`` run with ``args`` depends on right now; None when it cannot be read from files (a
    remote workspace)."""
    if not settings.is_local:
        return None
    tables = INPUT_TABLES + (SCORE_OUTPUTS if command == "score" else ())
    versions = {f"{layer}.{name}": delta_log.latest_version(settings.table(layer, name).path)
                for layer, name in tables}
    return {"command": command, "args": args, "code": code_identity(), "tables": versions,
            "registry": registry_snapshot(settings)}


def _state_path(settings: Settings, command: str) -> Path:
    return Path(settings.checkpoint("ml", command)) / STATE_FILE


def recorded(settings: Settings, command: str) -> dict | None:
    try:
        return json.loads(_state_path(settings, command).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_current(settings: Settings, command: str, before: dict | None) -> bool:
    """The last finished ``command`` run saw exactly ``before`` (its snapshot) and changed nothing since."""
    if before is None or before["registry"] is None:
        return False
    return recorded(settings, command) == before


def record(settings: Settings, command: str, before: dict | None) -> None:
    """After a finished run: remember the snapshot it started from, with what the run itself changed (train: the
    registry it registered into; score: the gold tables it wrote), so the next run compares with what it will see.
    Inputs stay as seen *before* the run: a table committed to meanwhile makes the next run do the work. Written
    atomically (tmp + rename): a killed run leaves the previous state."""
    if before is None:
        return
    after = snapshot(settings, command, before["args"])
    state = dict(before)
    if command == "train":
        state["registry"] = after["registry"]
    else:
        state["tables"] = {**before["tables"], **{f"{l}.{n}": after["tables"][f"{l}.{n}"] for l, n in SCORE_OUTPUTS}}
    path = _state_path(settings, command)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def input_bytes(settings: Settings) -> int | None:
    """Local lakehouses: how much a train or score run reads, the input tables' current data files sized by their
    rows (``delta_log.current_input_bytes``), for ``spark.execution_conf``; None remotely."""
    if not settings.is_local:
        return None
    return sum(delta_log.current_input_bytes(settings.table(layer, name).path) for layer, name in INPUT_TABLES
               if delta_log.has_commit(settings.table(layer, name).path))
