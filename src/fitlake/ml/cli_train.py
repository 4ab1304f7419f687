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
    import time

    from fitlake.ml import freshness

    started = time.monotonic()
    settings = settings_from_args(args)
    before = freshness.snapshot(settings, "train", {"model": args.model, "source": args.source})
    if not args.force and freshness.is_current(settings, "train", before):
        print("fitlake train: nothing new: the input tables' Delta versions, the ML code and the registered models "
              "are those of the last finished `fitlake train` (checked from the Delta logs and the MLflow store, "
              f"without starting Spark; --force retrains); total {time.monotonic() - started:.1f} s")
        return 0
    from fitlake.ml import tracking

    spark = tracking.start_spark(settings, "fitlake-train")
    from fitlake.ml.train import train
    results = train(spark, settings, args.model, args.source, force=args.force)
    counts = {s: sum(r["status"] == s for r in results) for s in ("trained", "unchanged", "skipped")}
    print(f"fitlake train: {counts['trained']} trained, {counts['unchanged']} unchanged, {counts['skipped']} skipped; "
          f"MLflow UI: mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}")
    freshness.record(settings, "train", before)
    return 0
