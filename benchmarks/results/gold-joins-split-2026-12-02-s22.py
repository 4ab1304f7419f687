"""Old vs new gold builders in one JVM, alternating: JVM CPU seconds (/proc/<pid>/stat) of building
fact_hourly_activity / data_completeness from the base lake's silver (and orig gold for completeness) into the noop
sink, plus one delta write of the new hourly fact (how much of the table's time the write takes)."""
import importlib.util, json, os, sys, time
from pathlib import Path
sys.path.insert(0, "/work/wt-gold22/src")
from fitlake.config import Settings
from fitlake.spark import get_spark
from fitlake.gold import facts as new
from pyspark.sql import functions as F

spec = importlib.util.spec_from_file_location("old_facts", "/tmp/s22-gold/before/src/fitlake/gold/facts.py")
old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)
root = Path("/tmp/s22-gold/base"); orig = Path("/tmp/s22-gold/orig")
spark = get_spark(Settings(root=root))
pid = spark._jvm.java.lang.ProcessHandle.current().pid()
tick = os.sysconf("SC_CLK_TCK")
def jvm_cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
def read(p): return spark.read.format("delta").load(str(p))
hourly_in = [read(root / "silver" / n) for n in ("hourly_steps", "hourly_calories", "hourly_intensities")]
def days(n, col): return read(root / "silver" / n).select("user_id", F.to_date(col).alias("date") if col != "date" else "date")
def comp(m):
    return m.build_data_completeness(
        read(root/"silver"/"daily_activity").select("user_id", F.col("activity_date").alias("date")),
        read(root/"silver"/"activity").select("user_id", "date"),
        read(root/"silver"/"sleep_day").select("user_id", F.col("sleep_date").alias("date")),
        read(orig/"gold"/"fact_hourly_activity").select("user_id", "date", "missing_inputs"),
        read(orig/"gold"/"fact_heart_rate").select("user_id", "date"),
        spark.createDataFrame([], "user_id BIGINT, date DATE, rows BIGINT, input STRING"))
def run(label, df, fmt="noop", path=None):
    c0, w0 = jvm_cpu(), time.time()
    w = df.write.format(fmt).mode("overwrite")
    w.save(path) if path else w.save()
    print(json.dumps({"step": label, "jvm_cpu_s": round(jvm_cpu() - c0, 1), "wall_s": round(time.time() - w0, 1),
                      "load": os.getloadavg()[0]}), flush=True)
import fitlake.gold.facts as nf
orig_gb = nf.combine_by_key
def combine_repart(keys, inputs):
    from pyspark.sql import DataFrame
    df = orig_gb(keys, inputs)
    # same plan, but the union repartitioned by the keys first: partial aggregation after the shuffle
    agg = df._jdf.queryExecution().analyzed()
    return df
def hourly_repart(steps, cal, ints):
    keys = ["user_id", "activity_hour"]
    real_union = DataFrame_unionByName = None
    return None
mode = sys.argv[1] if len(sys.argv) > 1 else "all"
run("warmup-old-hourly", old.build_fact_hourly_activity(*hourly_in))
for i in range(2):
    run("old-hourly-noop", old.build_fact_hourly_activity(*hourly_in))
    run("new-hourly-noop", new.build_fact_hourly_activity(*hourly_in))
    nf.REPARTITION = True
    run("new-repart-hourly-noop", new.build_fact_hourly_activity(*hourly_in))
    nf.REPARTITION = False
if mode == "all":
    for i in range(2):
        run("old-completeness-noop", comp(old))
        run("new-completeness-noop", comp(new))
    run("old-hourly-delta-write", old.build_fact_hourly_activity(*hourly_in), "delta", "/tmp/s22-gold/split/out_hourly")
spark.stop()
