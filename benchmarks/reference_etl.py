"""B6's reference approach: the classic full-overwrite ETL — read EVERY landing file with Spark's CSV/JSON readers,
type/validate/de-duplicate everything, overwrite silver, rebuild and overwrite gold — that fitlake's incremental
run is compared with. It reuses fitlake's own transforms (typing, rules, dedup, gold builders), so the difference
measured is the processing model (everything, every time) and not the formulas.

``python -m benchmarks.reference_etl --root DIR --landing DIR`` prints one JSON line: seconds per stage and rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def read_landing(spark, landing: Path, source) -> "DataFrame":
    """One source's files as bronze-shaped rows: raw strings + lineage (the reader's own parsing, no rescue)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField(c, StringType()) for c in source.columns]
                        + [StructField("_corrupt_record", StringType())])
    reader = spark.read.schema(schema).option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord",
                                                                           "_corrupt_record")
    path = str(landing / source.pattern)
    df = reader.option("header", True).csv(path) if source.format == "csv" else reader.json(path)
    return df.select(
        "*",
        F.col("_metadata.file_path").alias("_source_file"),
        F.monotonically_increasing_id().alias("_line"),  # unique, not a line number (ids jump per partition)
        F.current_timestamp().alias("_ingested_at"),
    )


def rebuild(spark, root: Path, landing: Path) -> dict:
    from pyspark.sql import functions as F

    from fitlake.bronze.sources import BATCH_SOURCES, SOURCES
    from fitlake.config import Settings
    from fitlake.gold import dims, facts, kpis
    from fitlake.silver import transforms as T
    from fitlake.silver.expectations import RULES
    from fitlake.silver.job import checked_rows
    from fitlake.silver.specs import SPECS

    settings = Settings(root=root, landing=landing)
    seconds = {}

    def overwrite(df, layer, name):
        if layer == "gold" and "date" in df.columns:  # the gold DDL's DATE (fitlake's gold conforms to it too)
            df = df.withColumn("date", F.to_date("date"))
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
            settings.table(layer, name).path)

    t0 = time.perf_counter()
    for name in BATCH_SOURCES:
        source = SOURCES[name]
        if not any(landing.glob(source.pattern)):
            continue
        spec = SPECS[name]
        checked = checked_rows(read_landing(spark, landing, source), spec, RULES[name]).persist()
        overwrite(checked.where(~F.col("_valid")).transform(T.to_quarantine_rows), "quarantine", name)
        winners = checked.where(F.col("_valid") & (F.col("_dup_rank") == 1))
        overwrite(T.to_silver_rows(winners, [c.name for c in spec.columns], spec.features), "silver", name)
        checked.unpersist()
    seconds["silver"] = time.perf_counter() - t0

    t1 = time.perf_counter()

    def silver(name):
        return spark.read.format("delta").load(settings.table("silver", name).path)

    def gold(name):
        return spark.read.format("delta").load(settings.table("gold", name).path)

    overwrite(facts.build_fact_daily_activity(silver("daily_activity"), silver("activity")), "gold", "fact_daily_activity")
    overwrite(facts.build_fact_sleep(silver("sleep_day")), "gold", "fact_sleep")
    overwrite(facts.build_fact_hourly_activity(silver("hourly_steps"), silver("hourly_calories"),
                                               silver("hourly_intensities")), "gold", "fact_hourly_activity")
    overwrite(facts.build_fact_heart_rate(silver("heartrate_seconds")), "gold", "fact_heart_rate")
    daily, sleep = gold("fact_daily_activity"), gold("fact_sleep")
    overwrite(dims.build_dim_date(daily.select("date").unionByName(sleep.select("date"))), "gold", "dim_date")
    overwrite(dims.build_dim_user(daily.select("user_id"), daily, sleep, silver("weight_log")), "gold", "dim_user")
    overwrite(_data_completeness(spark, settings), "gold", "data_completeness")
    completeness = gold("data_completeness")
    overwrite(kpis.build_kpi_wellness_daily(daily, sleep, settings.step_goal, completeness), "gold", "kpi_wellness_daily")
    overwrite(kpis.build_kpi_engagement_daily(daily), "gold", "kpi_engagement_daily")
    overwrite(kpis.build_kpi_sleep_efficiency(sleep, completeness), "gold", "kpi_sleep_efficiency")
    seconds["gold"] = time.perf_counter() - t1
    return {"seconds": {k: round(v, 2) for k, v in seconds.items()}}


def _data_completeness(spark, settings):
    """gold.data_completeness over every (user, day) of its inputs: the gold job's own builder, given all keys."""
    from pyspark.sql import functions as F

    from fitlake.gold.job import COMPLETENESS_SOURCES, GoldRun, Scope, _build_data_completeness
    from fitlake.silver.specs import SPECS

    run = GoldRun(spark, settings)
    parts = [df.select("user_id", F.expr(SPECS[n].date_expr).alias("date"))
             for n in COMPLETENESS_SOURCES if (df := run.read("silver", n)) is not None]
    keys = parts[0]
    for part in parts[1:]:
        keys = keys.unionByName(part)
    keys = keys.where(F.col("date").isNotNull()).distinct()
    low, high = keys.agg(F.min("date"), F.max("date")).first()
    return _build_data_completeness(run, Scope(keys, low, high))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reference_etl", description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True)
    p.add_argument("--landing", required=True)
    args = p.parse_args(argv)
    from fitlake.config import Settings
    from fitlake.spark import get_spark

    root, landing = Path(args.root).resolve(), Path(args.landing).resolve()
    t = time.perf_counter()
    spark = get_spark(Settings(root=root), app_name="fitlake-reference-etl")
    spark_s = time.perf_counter() - t
    out = rebuild(spark, root, landing)
    out["seconds"]["spark_start"] = round(spark_s, 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
