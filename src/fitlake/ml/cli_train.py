"""``fitlake train``: train, track and register the MLlib models (thin: the work is in ``fitlake.ml.train``)."""

from __future__ import annotations

from fitlake.options import add_common_arguments, settings_from_args

MODEL_CHOICES = ("all", "personas", "activity", "calories", "recommend")


def add_arguments(parser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--model", choices=MODEL_CHOICES, default="all", help="which model to train (default: all)")
    parser.add_argument("--source", choices=("all", "activity", "fitbit"), default="all",
                        help="calories model: synthetic activity records, the Fitbit daily export, or both")
    parser.add_argument("--force", action="store_true",
                        help="retrain and register even when a registered version was fitted on the same inputs")


def main(args) -> int:
    from fitlake.ml.train import train
    from fitlake.spark import get_spark

    settings = settings_from_args(args)
    results = train(get_spark(settings, app_name="fitlake-train"), settings, args.model, args.source,
                    force=args.force)
    counts = {s: sum(r["status"] == s for r in results) for s in ("trained", "unchanged", "skipped")}
    print(f"fitlake train: {counts['trained']} trained, {counts['unchanged']} unchanged, {counts['skipped']} skipped; "
          f"MLflow UI: mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}")
    return 0
