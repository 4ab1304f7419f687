"""``fitlake train``: train, track and register the MLlib models (thin: the work is in ``fitlake.ml.train``)."""

from __future__ import annotations

from fitlake.options import add_common_arguments, settings_from_args

MODEL_CHOICES = ("all", "personas", "activity", "calories", "recommend")


def add_arguments(parser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--model", choices=MODEL_CHOICES, default="all", help="which model to train (default: all)")
    parser.add_argument("--source", choices=("all", "activity", "fitbit"), default="all",
                        help="calories model: synthetic activity records, the Fitbit daily export, or both")


def main(args) -> int:
    from fitlake.ml.train import train
    from fitlake.spark import get_spark

    settings = settings_from_args(args)
    results = train(get_spark(settings, app_name="fitlake-train"), settings, args.model, args.source)
    trained = sum(r["status"] == "trained" for r in results)
    print(f"fitlake train: {trained} trained, {len(results) - trained} skipped; "
          f"MLflow UI: mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}")
    return 0
