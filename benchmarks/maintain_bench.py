"""B8: what ``fitlake maintain`` buys on a streamed/incrementally loaded lakehouse — files per table and a gold query's
time before and after (median of ``repeats``; each timing reads the table fresh, Delta's snapshot cache aside).

Usable in-process (``measure_maintain(spark, settings)``, what the test runs on a tiny lakehouse) or as a process
(``python -m benchmarks.maintain_bench --root R --out J``, what ``fitlake bench`` runs on its lakehouse).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

# A dashboard-like gold query: hourly activity per user and day joined to the user dimension.
GOLD_QUERY = """
SELECT u.user_id, h.date, sum(h.steps) AS steps, avg(h.calories) AS calories, max(u.avg_daily_steps) AS avg_steps
FROM gold.fact_hourly_activity h JOIN gold.dim_user u ON u.user_id = h.user_id
GROUP BY u.user_id, h.date
"""
# The streamed side: the live windows per user and hour joined to the alerts (the tables every micro-batch writes).
STREAM_QUERY = """
SELECT w.user_id, date_trunc('hour', w.window_start) AS hour, sum(w.steps) AS steps, count(a.user_id) AS alerts
FROM gold.event_windows w LEFT JOIN gold.goal_alerts a
  ON a.user_id = w.user_id AND a.date = to_date(w.window_start)
GROUP BY w.user_id, date_trunc('hour', w.window_start)
"""


def files_per_table(spark, settings) -> dict[str, int]:
    from fitlake.ops.maintain import detail, existing_tables

    return {ref.full_name: int(detail(spark, ref)["numFiles"] or 0) for ref in existing_tables(spark, settings)}


def time_query(spark, settings, repeats: int = 3, query: str = GOLD_QUERY) -> float | None:
    from fitlake.gold.job import resolve_names
    from fitlake.spark import register_tables

    from fitlake import delta_io

    register_tables(spark, settings)
    if not all(delta_io.exists(spark, settings.table("gold", n)) for n in re.findall(r"gold\.(\w+)", query)):
        return None  # e.g. the streamed query on a lakehouse that was never streamed
    sql = resolve_names(query, settings)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        spark.sql(sql).collect()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_maintain(spark, settings, repeats: int = 3) -> dict:
    from fitlake.ops.maintain import maintain

    files_before = files_per_table(spark, settings)
    query_before = time_query(spark, settings, repeats)
    stream_before = time_query(spark, settings, repeats, STREAM_QUERY)
    started = time.perf_counter()
    results, tmp_removed = maintain(spark, settings, say=lambda line: None)
    maintain_s = time.perf_counter() - started
    files_after = files_per_table(spark, settings)
    query_after = time_query(spark, settings, repeats)
    stream_after = time_query(spark, settings, repeats, STREAM_QUERY)
    return {
        "files_before": files_before,
        "files_after": files_after,
        "total_files_before": sum(files_before.values()),
        "total_files_after": sum(files_after.values()),
        "tables_optimized": sum(r.optimized for r in results),
        "files_vacuumed": sum(r.files_vacuumed for r in results),
        "maintain_s": round(maintain_s, 2),
        "gold_query_s_before": round(query_before, 3),
        "gold_query_s_after": round(query_after, 3),
        "gold_query": " ".join(GOLD_QUERY.split()),
        "stream_query_s_before": None if stream_before is None else round(stream_before, 3),
        "stream_query_s_after": None if stream_after is None else round(stream_after, 3),
        "stream_query": " ".join(STREAM_QUERY.split()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="the lakehouse to maintain (it is changed: use a copy)")
    parser.add_argument("--out", required=True, help="JSON file to write the figure to")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from fitlake.config import Settings
    from fitlake.spark import get_spark

    settings = Settings(root=Path(args.root).resolve())
    spark = get_spark(settings, app_name="fitlake-bench-maintain")
    try:
        Path(args.out).write_text(json.dumps(measure_maintain(spark, settings, args.repeats), indent=1) + "\n")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
