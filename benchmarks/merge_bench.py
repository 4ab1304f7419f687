"""B3: how the silver MERGE scales with history — the same one-day batch merged with fitlake's own
``fitlake.silver.merge.upsert`` (key-range pruning + change classification) into silver.activity holding 1x and 10x
history.

The 1x history is the benchmark lakehouse's own silver.activity; the 10x history is the 10x lakehouse's when B1 ran
at 10x, else ten copies of the 1x rows with distinct user ids (what 10x users produce: the same days, ten times the
rows). Both are written like silver writes them (the spec's clustering columns, date-ordered files). The batch is
the last day shifted one day later (inserts) plus 2 % of that last day's rows re-delivered with changed steps
(updates). Each measurement restores the table to its pre-merge version first; the median of ``repeats`` is kept.
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path


def _prepare_history(spark, source_df, ref, spec, files: int) -> None:
    from fitlake.silver import merge as M
    from fitlake.silver.job import SILVER_PROPERTIES

    shutil.rmtree(ref.path, ignore_errors=True)  # a kept --workdir holds the last bench's table: start empty
    M.ensure_like(spark, ref, source_df.schema, spec.cluster_by, SILVER_PROPERTIES)
    source_df.repartitionByRange(files, "date").sortWithinPartitions("date", "user_id").write.format("delta").mode(
        "append").save(ref.path)


def measure_merge_scaling(work: Path, root_1x: Path, root_10x: Path | None = None, repeats: int = 3) -> dict:
    from pyspark.sql import functions as F

    from fitlake import delta_io
    from fitlake.config import Settings
    from fitlake.silver import merge as M
    from fitlake.silver.specs import SPECS
    from fitlake.spark import get_spark

    spec = SPECS["activity"]
    spark = get_spark(Settings(root=Path(work)), app_name="fitlake-bench-merge")
    one = delta_io.read(spark, Settings(root=Path(root_1x)).table("silver", "activity"))
    if root_10x is not None:
        ten = delta_io.read(spark, Settings(root=Path(root_10x)).table("silver", "activity"))
        ten_how = "the 10x lakehouse's silver.activity"
    else:
        ten = one.crossJoin(spark.range(10).withColumnRenamed("id", "_copy")).withColumn(
            "user_id", F.col("user_id") + F.col("_copy") * F.lit(10_000_000)).drop("_copy")
        ten_how = "ten copies of the 1x rows with distinct user ids"

    last_day = one.agg(F.max("date")).first()[0]
    day_rows = one.where(F.col("date") == F.lit(last_day))
    now = F.current_timestamp()
    inserts = day_rows.withColumn("date", F.date_add("date", 1))
    updates = day_rows.sample(fraction=0.02, seed=7).withColumn("steps", F.col("steps") + 1)
    batch = inserts.unionByName(updates).withColumn("_ingested_at", now).withColumn("_updated_at", now)
    batch = batch.localCheckpoint()  # the same rows for every measurement
    batch_rows = batch.count()
    low, high = batch.agg(F.min("date").cast("string"), F.max("date").cast("string")).first()
    bounds = M.KeyRange("date", low, high, "date")

    out = {"batch_rows": batch_rows, "history_10x": ten_how, "repeats": repeats}
    for label, history, files in (("1x", one, 16), ("10x", ten, 160)):
        settings = Settings(root=Path(work) / label)
        ref = settings.table("silver", "activity")
        _prepare_history(spark, history, ref, spec, files)
        version = delta_io.delta_table(spark, ref).history(1).first()["version"]
        times, actions = [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            actions = M.upsert(spark, ref, batch, spec.keys, spec.value_columns, bounds)
            times.append(time.perf_counter() - t0)
            delta_io.delta_table(spark, ref).restoreToVersion(version)
        out[label] = {"history_rows": delta_io.read(spark, ref).count(), "merge_s": round(statistics.median(times), 3),
                      "all_s": [round(t, 3) for t in times], "actions": actions}
    out["ratio_10x_over_1x"] = round(out["10x"]["merge_s"] / out["1x"]["merge_s"], 3)
    spark.stop()
    return out
