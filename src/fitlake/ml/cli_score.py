"""``fitlake score``: write personas, predicted calories and top-3 recommendations from the @champion models."""

from __future__ import annotations

from fitlake.options import add_common_arguments, settings_from_args


def add_arguments(parser) -> None:
    add_common_arguments(parser)


def main(args) -> int:
    import time

    from fitlake.ml import freshness

    started = time.monotonic()
    settings = settings_from_args(args)
    before = freshness.snapshot(settings, "score", {})
    if freshness.is_current(settings, "score", before):
        print("fitlake score: nothing new: the input tables, the @champion models and the gold tables scored are "
              "as the last finished `fitlake score` left them (checked from the Delta logs and the MLflow store, "
              f"without starting Spark); total {time.monotonic() - started:.1f} s")
        return 0
    from fitlake.ml import tracking

    spark = tracking.start_spark(settings, "fitlake-score")
    from fitlake.ml.scoring import score
    results = score(spark, settings)
    scored = sum(r["status"] == "scored" for r in results)
    due = [r["model"] for r in results if r.get("retrain_due")]
    print(f"fitlake score: {scored} scored, {len(results) - scored} skipped"
          + (f"; retrain due: {', '.join(due)} (see gold.model_monitoring)" if due else ""))
    freshness.record(settings, "score", before)
    return 0
