"""Options every job shares (target, lakehouse root, landing folder, catalog/schema, step goal, experiment prefix),
parsed the same way everywhere, so a bundle task can pass the bundle's variables to any command."""

from __future__ import annotations

from fitlake.config import TARGETS, Settings, load_settings


def add_common_arguments(parser) -> None:
    parser.add_argument("--target", choices=TARGETS, default=None, help="deployment target (default: local)")
    parser.add_argument("--root", default=None, help="lakehouse root (default: $FITLAKE_ROOT or ./lakehouse)")
    parser.add_argument("--landing", default=None, help="landing folder (default: <root>/landing)")
    parser.add_argument("--catalog", default=None, help="Unity Catalog catalog on dev/prod (default: $FITLAKE_CATALOG)")
    parser.add_argument("--schema", default=None, help="Unity Catalog schema on dev/prod (default: $FITLAKE_SCHEMA)")
    parser.add_argument("--step-goal", type=int, default=None, help="daily step goal (default: $FITLAKE_STEP_GOAL)")
    parser.add_argument(
        "--experiment-prefix", default=None, help="MLflow experiment folder on dev/prod ($FITLAKE_EXPERIMENT_PREFIX)"
    )


def settings_from_args(args) -> Settings:
    return load_settings(
        target=args.target,
        root=args.root,
        landing=getattr(args, "landing", None),
        catalog=getattr(args, "catalog", None),
        schema=getattr(args, "schema", None),
        step_goal=getattr(args, "step_goal", None),
        experiment_prefix=getattr(args, "experiment_prefix", None),
        date_order=getattr(args, "date_order", None),
    )
