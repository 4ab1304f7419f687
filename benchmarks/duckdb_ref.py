"""B5's single-node reference: fitlake's gold facts and KPIs recomputed by DuckDB over the same silver Delta tables.

DuckDB's ``delta`` extension is downloaded at first use, and that download is not reachable here, so silver's
current files are resolved with delta-rs (``deltalake``) and scanned by DuckDB as Arrow datasets; results are written back as Delta
tables with delta-rs. The SQL mirrors ``fitlake.gold`` formula for formula (constants imported from
``fitlake.gold.kpis``), and ``check_against_spark`` compares row counts and column sums with the Spark-built gold
tables, so the speed comparison is between two programs that produce the same numbers.
"""

from __future__ import annotations

import time
from pathlib import Path

SILVER_INPUTS = ("activity", "daily_activity", "sleep_day", "hourly_steps", "hourly_calories", "hourly_intensities",
                 "heartrate_seconds")


def _kpi_constants() -> dict:
    from fitlake.gold import kpis
    from fitlake.gold.dims import ACTIVITY_TYPE_KEYS

    return {
        "w_steps": kpis.WEIGHTS["steps"], "w_active": kpis.WEIGHTS["active"], "w_sleep": kpis.WEIGHTS["sleep"],
        "active_goal": float(kpis.ACTIVE_MINUTES_GOAL), "sleep_low": kpis.SLEEP_IDEAL_HOURS[0],
        "sleep_high": kpis.SLEEP_IDEAL_HOURS[1], "oversleep": kpis.SLEEP_OVERSLEEP_SPAN_HOURS,
        "trailing": kpis.TRAILING_DAYS, "high": kpis.SEGMENT_THRESHOLDS[0][1], "medium": kpis.SEGMENT_THRESHOLDS[1][1],
        "type_keys": " ".join(f"WHEN '{t}' THEN {k}" for t, k in ACTIVITY_TYPE_KEYS.items()),
    }


def gold_sql(step_goal: int) -> dict[str, str]:
    """name -> SELECT over the silver tables (registered under their silver names)."""
    c = _kpi_constants()
    unit = "least(greatest({x}, 0.0), 1.0)"
    date_key = "CAST(year({d}) * 10000 + month({d}) * 100 + day({d}) AS INTEGER)"
    sleep_c = (
        f"CASE WHEN sleep_hours IS NULL THEN NULL WHEN sleep_hours < {c['sleep_low']} THEN "
        + unit.format(x=f"sleep_hours / {c['sleep_low']}")
        + f" WHEN sleep_hours <= {c['sleep_high']} THEN 1.0 ELSE "
        + unit.format(x=f"1.0 - (sleep_hours - {c['sleep_high']}) / {c['oversleep']}")
        + " END"
    )
    return {
        "fact_daily_activity": f"""
            SELECT coalesce(da.user_id, a.user_id) AS user_id,
                   coalesce(da.activity_date, a.date) AS date,
                   {date_key.format(d='coalesce(da.activity_date, a.date)')} AS date_key,
                   coalesce(CASE coalesce(a.activity_type, 'none') {c['type_keys']} END, 0) AS activity_type_key,
                   a.activity_type,
                   coalesce(da.total_steps, a.steps) AS steps,
                   coalesce(da.total_distance, a.distance_km) AS distance_km,
                   coalesce(CAST(da.calories AS DOUBLE), a.calories_burned) AS calories,
                   da.very_active_minutes, da.fairly_active_minutes, da.lightly_active_minutes, da.sedentary_minutes,
                   coalesce(da.very_active_minutes + da.fairly_active_minutes + da.lightly_active_minutes,
                            a.duration_minutes) AS total_active_minutes,
                   coalesce(da.very_active_minutes + da.fairly_active_minutes, a.duration_minutes) AS active_minutes,
                   a.duration_minutes, a.heart_rate_avg, a.sleep_hours,
                   coalesce(da.is_non_wear, a.is_non_wear, false) AS is_non_wear,
                   CASE WHEN da.user_id IS NOT NULL AND a.user_id IS NOT NULL THEN 'both'
                        WHEN da.user_id IS NOT NULL THEN 'fitbit' ELSE 'activity' END AS source
            FROM daily_activity da FULL OUTER JOIN activity a
              ON da.user_id = a.user_id AND da.activity_date = a.date""",
        "fact_sleep": f"""
            SELECT user_id, sleep_date AS date, {date_key.format(d='sleep_date')} AS date_key,
                   total_minutes_asleep AS minutes_asleep, total_time_in_bed AS time_in_bed,
                   total_sleep_records AS sleep_records,
                   CASE WHEN total_time_in_bed > 0 THEN CAST(total_minutes_asleep AS DOUBLE) / total_time_in_bed END
                     AS sleep_efficiency
            FROM sleep_day""",
        "fact_hourly_activity": """
            SELECT user_id, activity_hour, CAST(activity_hour AS DATE) AS date, hour(activity_hour) AS hour,
                   s.step_total AS steps, c.calories, i.total_intensity, i.average_intensity
            FROM hourly_steps s
            FULL OUTER JOIN hourly_calories c USING (user_id, activity_hour)
            FULL OUTER JOIN hourly_intensities i USING (user_id, activity_hour)""",
        "fact_heart_rate": """
            SELECT user_id, date_trunc('hour', time) AS hour, CAST(date_trunc('hour', time) AS DATE) AS date,
                   avg(value) AS avg_bpm, min(value) AS min_bpm, max(value) AS max_bpm, count(*) AS samples
            FROM heartrate_seconds GROUP BY ALL""",
        "kpi_wellness_daily": f"""
            WITH worn AS (
              SELECT f.*, coalesce(s.minutes_asleep / 60.0, f.sleep_hours) AS sleep_hours_used
              FROM fact_daily_activity f LEFT JOIN fact_sleep s USING (user_id, date)
              WHERE NOT f.is_non_wear),
            comp AS (
              SELECT user_id, date, date_key, steps, active_minutes, sleep_hours_used AS sleep_hours,
                     {unit.format(x=f'CAST(steps AS DOUBLE) / {float(step_goal)}')} AS steps_component,
                     {unit.format(x=f"CAST(active_minutes AS DOUBLE) / {c['active_goal']}")} AS active_component,
                     {sleep_c.replace('sleep_hours', 'sleep_hours_used')} AS sleep_component
              FROM worn)
            SELECT *, sleep_component IS NULL AS sleep_component_missing,
                   round(100.0 * ({c['w_steps']} * steps_component + {c['w_active']} * active_component
                                  + coalesce({c['w_sleep']} * sleep_component, 0.0))
                         / ({c['w_steps'] + c['w_active']} + CASE WHEN sleep_component IS NOT NULL
                                                             THEN {c['w_sleep']} ELSE 0.0 END), 1) AS wellness_score
            FROM comp""",
        "kpi_engagement_daily": f"""
            WITH worn AS (
              SELECT user_id, date, date_key, coalesce(active_minutes, 0) AS active_minutes,
                     date_diff('day', DATE '1970-01-01', date) AS day_no
              FROM fact_daily_activity WHERE NOT is_non_wear),
            t AS (
              SELECT *, avg(active_minutes) OVER w AS trailing_active_minutes,
                        count(active_minutes) OVER w AS trailing_wear_days
              FROM worn
              WINDOW w AS (PARTITION BY user_id ORDER BY day_no
                           RANGE BETWEEN {c['trailing'] - 1} PRECEDING AND CURRENT ROW))
            SELECT user_id, date, date_key, active_minutes, trailing_active_minutes, trailing_wear_days,
                   trailing_active_minutes * {float(c['trailing'])} AS weekly_active_minutes,
                   CASE WHEN trailing_active_minutes IS NULL THEN NULL
                        WHEN trailing_active_minutes * {float(c['trailing'])} >= {c['high']} THEN 'High'
                        WHEN trailing_active_minutes * {float(c['trailing'])} >= {c['medium']} THEN 'Medium'
                        ELSE 'Low' END AS engagement_segment
            FROM t""",
        "kpi_sleep_efficiency": f"""
            SELECT user_id, date, date_key, minutes_asleep, time_in_bed, sleep_efficiency,
                   avg(sleep_efficiency) OVER w AS trailing_sleep_efficiency,
                   count(sleep_efficiency) OVER w AS trailing_nights
            FROM fact_sleep
            WINDOW w AS (PARTITION BY user_id ORDER BY date_diff('day', DATE '1970-01-01', date)
                         RANGE BETWEEN {c['trailing'] - 1} PRECEDING AND CURRENT ROW)""",
    }


ORDER = ("fact_daily_activity", "fact_sleep", "fact_hourly_activity", "fact_heart_rate", "kpi_wellness_daily",
         "kpi_engagement_daily", "kpi_sleep_efficiency")


def run_reference(root: Path, out_dir: Path | None, step_goal: int, threads: int | None = None) -> dict:
    """Compute the gold tables in DuckDB straight from silver's Parquet files, optionally write them as Delta.

    Silver is exposed as Arrow datasets of each table's current files (delta-rs resolves the snapshot), so DuckDB
    reads only the columns the SQL needs and streams them: at 10x the hourly tables would not fit in memory twice.
    DuckDB's own tables hold the gold results (it spills to disk past its memory limit)."""
    import duckdb
    from deltalake import DeltaTable, write_deltalake

    from benchmarks.harness import delta_rows

    timings: dict[str, float] = {}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")  # lets DuckDB stream big CREATE TABLE AS without buffering
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    t0 = time.perf_counter()
    rows_in = 0
    for name in SILVER_INPUTS:
        path = Path(root) / "silver" / name
        if not (path / "_delta_log").is_dir():
            raise FileNotFoundError(f"silver.{name} is missing under {root}")
        table = DeltaTable(str(path))
        rows_in += delta_rows(table)
        con.register(name, table.to_pyarrow_dataset())
    timings["open_silver_s"] = time.perf_counter() - t0
    sql = gold_sql(step_goal)
    counts = {}
    t1 = time.perf_counter()
    for name in ORDER:
        con.execute(f"CREATE TABLE {name} AS {sql[name]}")
        counts[name] = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    timings["compute_s"] = time.perf_counter() - t1
    if out_dir is not None:
        t2 = time.perf_counter()
        for name in ORDER:
            reader = con.sql(f"SELECT * FROM {name}").fetch_record_batch(1_000_000)
            write_deltalake(str(Path(out_dir) / name), reader, mode="overwrite")
        timings["write_delta_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t0
    return {"timings": timings, "rows_in": rows_in, "rows_out": counts, "connection": con}


CHECK_COLUMNS = {
    "fact_daily_activity": ("steps", "calories", "total_active_minutes"),
    "fact_sleep": ("minutes_asleep", "sleep_efficiency"),
    "fact_hourly_activity": ("steps", "calories", "total_intensity"),
    "fact_heart_rate": ("samples", "max_bpm"),
    "kpi_wellness_daily": ("wellness_score", "steps_component"),
    "kpi_engagement_daily": ("trailing_active_minutes",),
    "kpi_sleep_efficiency": ("trailing_sleep_efficiency", "trailing_nights"),
}


def check_against_spark(con, root: Path) -> dict:
    """Row counts and column sums of DuckDB's tables vs the Spark-built gold tables (relative difference).

    The Spark tables are scanned by DuckDB too (Arrow datasets), so the check needs no pandas copy of a 10x table."""
    from deltalake import DeltaTable

    report = {}
    for name, cols in CHECK_COLUMNS.items():
        path = Path(root) / "gold" / name
        if not (path / "_delta_log").is_dir():
            report[name] = {"status": "no spark table"}
            continue
        spark_view = f"_spark_{name}"
        dataset = DeltaTable(str(path)).to_pyarrow_dataset()
        con.register(spark_view, dataset)
        present = [c for c in cols if c in dataset.schema.names]
        sums = ", ".join(f"coalesce(sum(CAST({c} AS DOUBLE)), 0)" for c in present)
        select = f"SELECT count(*){', ' + sums if sums else ''} FROM "
        spark_row = con.execute(select + spark_view).fetchall()[0]
        duck_row = con.execute(select + name).fetchall()[0]
        con.unregister(spark_view)
        entry = {"rows_spark": spark_row[0], "rows_duckdb": duck_row[0]}
        for col, s, d in zip(present, spark_row[1:], duck_row[1:]):
            entry[f"sum_{col}_rel_diff"] = abs(s - d) / max(abs(s), 1e-9)
        entry["match"] = entry["rows_spark"] == entry["rows_duckdb"] and all(
            v < 1e-6 for k, v in entry.items() if k.endswith("_rel_diff")
        )
        report[name] = entry
    return report
