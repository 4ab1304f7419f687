"""One bronze source ingested repeatedly in ONE JVM, each time into a fresh lakehouse, under a named variant:
JVM and Python CPU seconds per run (the first run of a process warms the JVM: compare the later ones).

    python -m benchmarks.bronze_source_ab --landing /tmp/x/landing_1x hourly_steps base base allstats base allstats

Variants: ``base`` (the code as it is); ``allstats`` (file statistics on every column, as before bronze kept them on
``_batch_id``/``_ingested_at`` only); ``lz4`` (Parquet lz4 instead of snappy); ``noformats`` (no date-format
observation on the write). One line per run on stdout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from benchmarks.harness import tree_cpu_seconds


def _cpu(pid: int) -> float:
    return tree_cpu_seconds([pid]).get(pid, 0.0)  # this one process (the JVM, or Python), not its tree


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--landing", required=True)
    ap.add_argument("--work", default="/tmp/fitlake-bronze-source-ab")
    ap.add_argument("source")
    ap.add_argument("variants", nargs="+", choices=["base", "allstats", "lz4", "noformats"])
    args = ap.parse_args(argv)

    from fitlake.bronze import ingest_source, local_batch, writer
    from fitlake.config import Settings
    from fitlake.spark import get_spark

    observe_formats = local_batch._observe_formats
    properties = dict(writer.BRONZE_PROPERTIES)
    spark = None
    for i, variant in enumerate(args.variants):
        root = Path(args.work) / f"{args.source}-{variant}-{i}"
        shutil.rmtree(root, ignore_errors=True)
        settings = Settings(root=root, landing=Path(args.landing))
        spark = spark or get_spark(settings, app_name="bronze-source-ab")
        writer.BRONZE_PROPERTIES.clear()
        writer.BRONZE_PROPERTIES.update({k: v for k, v in properties.items()
                                         if not (variant == "allstats" and k == "delta.dataSkippingStatsColumns")})
        local_batch._observe_formats = (lambda part, formats, rows=None: part) if variant == "noformats" \
            else observe_formats
        conf = {"spark.sql.parquet.compression.codec": "lz4"} if variant == "lz4" else {}
        for k, v in conf.items():
            spark.conf.set(k, v)
        jvm = spark._jvm.java.lang.ProcessHandle.current().pid()
        c, pc, t = _cpu(jvm), _cpu(os.getpid()), time.monotonic()
        r = ingest_source(spark, settings, args.source)
        print(f"{args.source} {variant} wall {time.monotonic() - t:.1f} jvm_cpu {_cpu(jvm) - c:.1f} "
              f"py_cpu {_cpu(os.getpid()) - pc:.1f} rows {r['rows']} load {os.getloadavg()[0]:.1f}", flush=True)
        for k in conf:
            spark.conf.unset(k)
        shutil.rmtree(root, ignore_errors=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
