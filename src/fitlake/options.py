"""Options every job shares (target, lakehouse root, landing folder), parsed the same way everywhere."""

from __future__ import annotations

from fitlake.config import TARGETS, Settings, load_settings


def add_common_arguments(parser) -> None:
    parser.add_argument("--target", choices=TARGETS, default=None, help="deployment target (default: local)")
    parser.add_argument("--root", default=None, help="lakehouse root (default: $FITLAKE_ROOT or ./lakehouse)")
    parser.add_argument("--landing", default=None, help="landing folder (default: <root>/landing)")


def settings_from_args(args) -> Settings:
    return load_settings(target=args.target, root=args.root, landing=getattr(args, "landing", None))
