"""Targets, paths and every table name, in one place.

Locally a logical table ``(layer, name)`` is a Delta folder ``<root>/<layer>/<name>`` that is also registered as
``<layer>.<name>`` in the session catalog. On Databricks (targets ``dev`` and ``prod``) it is the Unity Catalog
table ``<catalog>.<schema>.<layer>_<name>``: one schema per deployment with the layer as a name prefix, because
the ``default_python`` bundle convention gives each developer one schema in ``dev``, and a per-layer schema would
multiply grants and schema creation for every user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

TARGETS = ("local", "dev", "prod")
LAYERS = ("bronze", "silver", "quarantine", "gold", "ops")

# The batch sources: one bronze, silver and quarantine table each (the synthetic activity export and the Fitbit files).
_BATCH_SOURCES = (
    "activity",
    "daily_activity",
    "daily_steps",
    "daily_calories",
    "daily_intensities",
    "hourly_steps",
    "hourly_calories",
    "hourly_intensities",
    "sleep_day",
    "weight_log",
    "heartrate_seconds",
)

# Every table fitlake writes. Extend here, never with string literals elsewhere.
TABLES: dict[str, tuple[str, ...]] = {
    "bronze": (*_BATCH_SOURCES, "events", "events_kafka"),
    "silver": (*_BATCH_SOURCES, "events"),
    "quarantine": (*_BATCH_SOURCES, "events", "events_kafka"),
    "gold": (
        "dim_user",
        "dim_date",
        "dim_activity_type",
        "fact_daily_activity",
        "fact_sleep",
        "fact_hourly_activity",
        "fact_heart_rate",
        "kpi_wellness_daily",
        "kpi_engagement_daily",
        "kpi_sleep_efficiency",
        "data_completeness",  # per user and day: which silver inputs are missing or quarantined (gold/facts.py)
        "event_windows",
        "goal_alerts",
        "user_personas",
        "predicted_calories",
        "predicted_activity_type",
        "activity_recommendations",
        "event_daily_steps",  # the streaming job's running daily step totals (goal alerts)
        "model_monitoring",  # fitlake score: input/prediction drift and rolling error per champion (ml/monitoring.py)
    ),
    "ops": ("run_log", "gold_state"),
}
# the rest of a full Fitbit export, raw in bronze only (fitlake.bronze.sources; no silver model yet)
TABLES["bronze"] += ("minute_calories_narrow", "minute_intensities_narrow", "minute_mets_narrow", "minute_steps_narrow",
                     "minute_calories_wide", "minute_intensities_wide", "minute_steps_wide", "minute_sleep")
# fitlake.ops: maintenance runs, erasure requests (no personal data), suppressed ids (salted hashes)
TABLES["ops"] += ("maintenance_log", "erasure_log", "suppressed_users")

DEFAULT_STEP_GOAL = 10_000
DATE_ORDERS = (None, "month_first", "day_first")

# Model monitoring (fitlake.ml.monitoring, written by `fitlake score` to gold.model_monitoring): a feature or the
# predictions drifted when their PSI against the training bins exceeds MONITOR_PSI_THRESHOLD (0.1 small, 0.25 large
# shift: the usual reading of PSI); the champion's error over the last MONITOR_ERROR_WINDOW_DAYS days with actuals
# counts as degraded above MONITOR_ERROR_RATIO x its held-out training error, once MONITOR_MIN_ROWS rows back it.
# Batches of fewer than MONITOR_MIN_ROWS scored rows are too small for a PSI and are not checked for drift.
MONITOR_PSI_THRESHOLD = 0.25
MONITOR_ERROR_RATIO = 1.5
MONITOR_ERROR_WINDOW_DAYS = 14
MONITOR_MIN_ROWS = 30


class ConfigError(ValueError):
    pass


def on_databricks() -> bool:
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


STANDIN_ENV = "FITLAKE_STANDIN_WORKSPACE"


def standin_root() -> Path | None:
    """The stand-in workspace folder (tests only; bundle/fitlake_bundle/standin.py): when set, the dev/prod code
    path runs on this machine: /Volumes/... under this folder, three-level names in a local catalog, and a
    test-only source for Auto Loader's ``cloudFiles``. Unset everywhere else (and on Databricks)."""
    value = os.environ.get(STANDIN_ENV)
    return Path(value).resolve() if value else None


def on_volume(path: str | os.PathLike) -> Path:
    """A ``/Volumes/...`` path as this process sees it: itself, or inside the stand-in workspace when it is on."""
    path, folder = Path(path), standin_root()
    if folder is not None and path.parts[:2] == ("/", "Volumes"):
        return folder / path.relative_to("/")
    return path


@dataclass(frozen=True)
class TableRef:
    layer: str
    name: str
    full_name: str  # what SQL uses: layer.name locally, catalog.schema.layer_name on Databricks
    path: str | None  # Delta folder locally; None on Databricks (Unity Catalog manages it)

    def __str__(self) -> str:
        return self.full_name


@dataclass(frozen=True)
class Settings:
    target: str = "local"
    root: Path = field(default_factory=lambda: Path("lakehouse").resolve())
    landing: Path | None = None  # default <root>/landing
    catalog: str = "main"
    schema: str = "fitlake"
    step_goal: int = DEFAULT_STEP_GOAL
    experiment_prefix: str = "/Shared/fitlake"
    # Off local: the names the bundle's deploy gave its MLflow experiments / Unity Catalog models, by model key
    # (FITLAKE_MLFLOW_EXPERIMENT_<KEY> / FITLAKE_UC_MODEL_<KEY>; development mode prefixes them). Unset: defaults.
    deployed_experiments: tuple[tuple[str, str], ...] = ()
    deployed_models: tuple[tuple[str, str], ...] = ()
    # Bronze Parquet read per silver micro-batch. Unbounded, a 10x first load (86 M hourly rows in one bronze
    # commit) became one batch whose cached partitions broke the 4 GB driver; at 1x every table fits in one batch.
    silver_batch_bytes: str = "64m"
    # A run whose input (new landing files + bronze and silver rows not yet read downstream, 64 bytes a row:
    # delta_log.ROW_BYTES) is at most this many bytes runs with Spark interpreting its plans instead of compiling them
    # to Java (fitlake.spark.execution_conf).
    interpreted_max_bytes: int = 64 * 2**20
    # Independent tables of one stage run side by side (fitlake.concurrency): their fixed costs overlap.
    parallel_tables: int = 3
    # How to read the dates of a file whose own values do not say (every day 12 or less): "month_first",
    # "day_first", or None: such dates are quarantined (fitlake.bronze.formats). Default: $FITLAKE_DATE_ORDER.
    date_order: str | None = field(default_factory=lambda: os.environ.get("FITLAKE_DATE_ORDER") or None)
    # A silver table whose run quarantined more than this share of its rows is reported loudly (fitlake run --strict
    # fails then).
    max_quarantine_share: float = field(
        default_factory=lambda: float(os.environ.get("FITLAKE_MAX_QUARANTINE_SHARE") or 0.05))

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError(f"Unknown target {self.target!r}: choose one of {', '.join(TARGETS)}.")
        if self.date_order not in DATE_ORDERS:
            raise ConfigError(f"date_order must be one of {', '.join(o for o in DATE_ORDERS if o)} (or unset), "
                              f"not {self.date_order!r}.")

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @property
    def landing_dir(self) -> Path:
        landing = Path(self.landing) if self.landing else self.root / "landing"
        return landing if self.is_local else on_volume(landing)

    def table(self, layer: str, name: str) -> TableRef:
        """Map a logical table to its physical location for this target."""
        if layer not in TABLES:
            raise ConfigError(f"Unknown layer {layer!r}: choose one of {', '.join(TABLES)}.")
        if name not in TABLES[layer]:
            raise ConfigError(f"Unknown table {layer}.{name}: add it to fitlake.config.TABLES.")
        if self.is_local:
            return TableRef(layer, name, f"{layer}.{name}", str(self.root / layer / name))
        return TableRef(layer, name, f"{self.catalog}.{self.schema}.{layer}_{name}", None)

    def tables(self, layer: str) -> list[TableRef]:
        return [self.table(layer, n) for n in TABLES[layer]]

    def checkpoint(self, layer: str, name: str) -> str:
        """Streaming checkpoint folder of one table's writer."""
        return str(self._state_dir() / "_checkpoints" / layer / name)

    def schema_location(self, name: str) -> str:
        """Where the Auto Loader-style source persists the inferred schema of one source."""
        return str(self._state_dir() / "_schemas" / name)

    def _state_dir(self) -> Path:
        if self.is_local:
            return self.root
        return on_volume(f"/Volumes/{self.catalog}/{self.schema}/state")

    @property
    def mlflow_tracking_uri(self) -> str:
        if not self.is_local:
            return "databricks"
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def mlflow_registry_uri(self) -> str:
        return "databricks-uc" if not self.is_local else self.mlflow_tracking_uri

    @property
    def mlflow_artifact_location(self) -> str | None:
        return (self.root / "mlartifacts").as_uri() if self.is_local else None

    def experiment_name(self, model: str) -> str:
        if self.is_local:
            return f"fitlake-{model}"
        return dict(self.deployed_experiments).get(model) or f"{self.experiment_prefix}/fitlake-{model}"

    def model_name(self, model: str) -> str:
        """Registered model name: plain locally, three-level in Unity Catalog."""
        if self.is_local:
            return f"fitlake_{model}"
        return f"{self.catalog}.{self.schema}.{dict(self.deployed_models).get(model) or f'fitlake_{model}'}"

    def with_overrides(self, **kwargs) -> "Settings":
        return replace(self, **{k: v for k, v in kwargs.items() if v is not None})


def _by_model_key(env, prefix: str) -> tuple[tuple[str, str], ...]:
    """``{prefix}CALORIES_FITBIT=name`` -> (("calories_fitbit", "name"),), sorted; empty values ignored."""
    return tuple(sorted((k[len(prefix):].lower(), v) for k, v in env.items() if k.startswith(prefix) and v))


def load_settings(
    target: str | None = None,
    root: str | os.PathLike | None = None,
    landing: str | os.PathLike | None = None,
    **overrides,
) -> Settings:
    """Settings from arguments, then FITLAKE_* environment variables, then defaults."""
    env = os.environ
    target = target or env.get("FITLAKE_TARGET") or ("dev" if on_databricks() else "local")
    root_path = Path(root or env.get("FITLAKE_ROOT") or "lakehouse").expanduser().resolve()
    landing_env = landing or env.get("FITLAKE_LANDING")
    settings = Settings(
        target=target,
        root=root_path,
        landing=Path(landing_env).expanduser().resolve() if landing_env else None,
        catalog=env.get("FITLAKE_CATALOG", "main"),
        schema=env.get("FITLAKE_SCHEMA", "fitlake"),
        step_goal=int(env.get("FITLAKE_STEP_GOAL", DEFAULT_STEP_GOAL)),
        experiment_prefix=env.get("FITLAKE_EXPERIMENT_PREFIX", "/Shared/fitlake"),
        deployed_experiments=_by_model_key(env, "FITLAKE_MLFLOW_EXPERIMENT_"),
        deployed_models=_by_model_key(env, "FITLAKE_UC_MODEL_"),
        silver_batch_bytes=env.get("FITLAKE_SILVER_BATCH_BYTES", Settings.silver_batch_bytes),
        parallel_tables=max(1, int(env.get("FITLAKE_PARALLEL_TABLES", Settings.parallel_tables))),
        interpreted_max_bytes=int(env.get("FITLAKE_INTERPRETED_MAX_BYTES", Settings.interpreted_max_bytes)),
    )
    return settings.with_overrides(**overrides)
