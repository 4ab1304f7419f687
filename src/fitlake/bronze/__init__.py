"""Bronze: Auto Loader-style incremental ingestion of the landing folder into raw, append-only Delta tables.

On Databricks ``read_landing_stream`` is Auto Loader (``cloudFiles`` with ``schemaLocation``, ``addNewColumns``,
``rescuedDataColumn``, ``schemaHints``). Open-source Spark has none of that: a file stream source needs an explicit
schema, its CSV/JSON readers ignore ``rescuedDataColumn`` and silently drop fields outside the schema, and CSV maps
columns by position. So locally the same function builds it from plain parts:

* **Source** (``landing_scan.py``, ``local_batch.py``). Our own listing of the source's top folder (``os.scandir``):
  regular files only, never a symlink out of the landing, names matched case-insensitively, ``.gz`` read,
  hidden folders / special files / unreadable entries reported with what to do (``counts["skipped"]``), never
  blocking the other files. A file's identity is (path, size, SHA-256), not its modification time: a file
  rewritten in place is a new delivery. The new files of a run are planned (``plan.json``: batch number + exact
  files) and read with one Spark batch read (``text``/``wholetext``, one row per file with ``_metadata``), so
  ``activity/date=.../`` yields no ``date`` partition column. "Nothing new" is decided without Spark.
* **Parsing** (``parse.py``, built-in functions only): strip a UTF-8 BOM, split on CRLF/LF/CR, number the lines.
  CSV: each file's first non-blank line is its own header and values map to it *by name*, so extra, missing or
  reordered columns are fine; JSON lines: ``from_json(line, map<string,string>)`` keeps every key with its JSON text.
  Known columns become STRING columns, other names go to ``_rescued_data`` (a JSON object), and a line that cannot
  be mapped - field count differs from its header, a header that names no known column (wrong delimiter), JSON that
  is not one object or repeats a key, bytes that are not UTF-8 - is kept whole in ``_corrupt_record``. Only blank
  lines and CSV header lines are not rows. Empty CSV values become null, like Spark's CSV reader.
* **Schema location** (``schema.py``): ``schema_v0.json`` = expected columns (the hints) + names seen in the first
  files; later runs reuse it. A new column is captured in ``_rescued_data`` by the run that meets it; at the end of
  that run it is added to the persisted schema (``schema_v<N+1>.json``) and to the Delta table, and from the next
  run on it is a real column. Earlier rows keep it in ``_rescued_data`` (bronze is append-only; no backfill).
* **Sink.** Append to Delta with a ``_batch_id`` column: locally a plain append of the planned batch, and a plan
  redone after a crash whose rows (its batch number and ``_ingested_at``) are in the table is not written again;
  on Databricks Auto Loader's ``foreachBatch`` appends with ``txnAppId``/``txnVersion`` = (an id kept in the
  checkpoint folder, batch id), which Delta skips if committed. Either way a killed run rerun loses and
  duplicates nothing.
* **No partitioning.** Bronze tables are appended once per run and read incrementally by ``_batch_id`` (whose
  file statistics let Delta skip old files) or as a Delta stream; partitioning by ingest date would only multiply
  small files. Each file is one row before the split, so memory per task is bounded by the largest file (the real
  export's largest is ~0.9 MB; the full 2.5 M-row heart-rate file, ~90 MB, still fits in a 3-4 GB driver).
"""

from fitlake.bronze.autoloader import cloudfiles_options
from fitlake.bronze.ingest import BronzeIngestError, describe, ingest_all, ingest_source, read_landing_stream
from fitlake.bronze.local_stream import file_source_options
from fitlake.bronze.sources import BATCH_SOURCES, SOURCES, BronzeSource

__all__ = [
    "BATCH_SOURCES",
    "SOURCES",
    "BronzeIngestError",
    "BronzeSource",
    "cloudfiles_options",
    "describe",
    "file_source_options",
    "ingest_all",
    "ingest_source",
    "read_landing_stream",
]
