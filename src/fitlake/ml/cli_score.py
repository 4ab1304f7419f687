"""``fitlake score``: write personas, predicted calories and top-3 recommendations from the @champion models."""

from __future__ import annotations

from fitlake.options import add_common_arguments, settings_from_args


def add_arguments(parser) -> None:
    add_common_arguments(parser)


def main(args) -> int:
    from fitlake.ml.scoring import score
    from fitlake.spark import get_spark

    settings = settings_from_args(args)
    results = score(get_spark(settings, app_name="fitlake-score"), settings)
    scored = sum(r["status"] == "scored" for r in results)
    due = [r["model"] for r in results if r.get("retrain_due")]
    print(f"fitlake score: {scored} scored, {len(results) - scored} skipped"
          + (f"; retrain due: {', '.join(due)} (see gold.model_monitoring)" if due else ""))
    return 0
