"""Bronze rows as a Spark file stream over the local landing folder: the streaming job's ``files`` source.

Spark's file source lists its folder itself: it follows a symbolic link anywhere (a link to ``/etc/passwd`` would be
read), opens a named pipe named like ``x.json`` (and blocks), and fails the query on an unreadable file. So it never
lists the landing. ``LandingStager`` lists it with fitlake's own walk (``landing_scan``: regular files inside the
landing only; what it skips is reported with what to do) and copies each accepted file into a staging folder under
the stream's checkpoint; the file source reads only that folder.

* **Staged path** ``<checkpoint>/_fitlake_landing/files/<sha256[:16]>/<landing-relative path>``: the content hash
  is part of the name, so a file rewritten in place is a new delivery, and a file staged again after a crash gets
  the same path, which the file source has already seen (its seen-files log is keyed by path): nothing is read
  twice. A copy is written to a dot-temp name (never listed) and renamed into place, then recorded in
  ``staged.jsonl`` (rel, size, sha256, mtime/ctime: unchanged files are not hashed again). A kill -9 at any point
  leaves either no staged file (staged by the next run) or a complete one.
* **Lineage**: ``_source_file`` is mapped back to the landing path the file was staged from (as Spark would have
  written it); ``_source_modified`` is the landing file's modification time (capped at the staging time: a clock in
  the future never makes the source skip later files).
* **Disk**: copies, not hard links (a hard link shares the inode, so a file rewritten in place would change a
  staged copy not read yet). The file source deletes a staged copy once the batch that read it is committed
  (``cleanSource=delete``, done when the next batch starts); folders left empty are removed when the next run
  starts. Staging holds what is not processed yet and the last batch's files.

The local batch ingest does not use it (it reads planned batches, ``local_batch``); on Databricks the same rows come
from Auto Loader (``autoloader``: cloud storage has no symbolic links, FIFOs or file modes, so none of this applies).
``fitlake.bronze.read_landing_stream`` picks one of the two by target.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import time
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fitlake.bronze import landing_scan
from fitlake.bronze import schema as schemas
from fitlake.bronze.parse import INGESTED_AT, SOURCE_FILE, SOURCE_MODIFIED, parse_landing_files
from fitlake.bronze.sources import BronzeSource
from fitlake.config import Settings

# The file source forgets files older than maxFileAge (default 7 days) relative to the newest file it has seen:
# a real export dropped in later with its original 2016 timestamps would be skipped without a word.
MAX_FILE_AGE = "36500d"
STAGING = "_fitlake_landing"  # under the stream's checkpoint: reset with it
_HASH_DIGITS = 16
_CHUNK = 1 << 20
_tmp_names = itertools.count()


def file_source_options(source: BronzeSource, max_files_per_trigger: int | None = None) -> dict[str, str]:
    """Options of the local file stream source: whole files, listed recursively, matched by file name."""
    return {
        "wholetext": "true",
        "recursiveFileLookup": "true",  # no `date=` partition column clashing with the JSON field `date`
        "pathGlobFilter": source.glob,
        "maxFilesPerTrigger": str(max_files_per_trigger or source.max_files_per_trigger),
        "maxFileAge": MAX_FILE_AGE,
    }


def staged_source_options(source: BronzeSource, max_files_per_trigger: int | None = None) -> dict[str, str]:
    """The staging folder holds only files ``landing_scan`` accepted (any case, ``.gz``): no name filter; a staged
    copy is deleted once its batch is committed."""
    options = file_source_options(source, max_files_per_trigger)
    del options["pathGlobFilter"]
    return {**options, "cleanSource": "delete"}


def read_landing_stream(spark, settings: Settings, source: BronzeSource, max_files_per_trigger=None) -> DataFrame:
    """A streaming DataFrame of bronze-shaped rows (all but ``_batch_id``) from the source's landing files, listed by
    Spark (no staging). The streaming job uses ``read_staged_stream``; this stays for callers without a
    checkpoint of their own."""
    schema = schemas.ensure_schema(settings.schema_location(source.name), settings.landing_dir, source)
    return _read_files(spark, settings, source, schema.columns, max_files_per_trigger)


def _read_files(spark, settings: Settings, source: BronzeSource, columns, max_files_per_trigger) -> DataFrame:
    folder = settings.landing_dir / source.root
    folder.mkdir(parents=True, exist_ok=True)  # a missing folder is "no files yet", not an error
    files = (
        spark.readStream.format("text")
        .options(**file_source_options(source, max_files_per_trigger))
        .load(str(folder))
        .select(
            "value",
            F.col("_metadata.file_path").alias(SOURCE_FILE),
            F.col("_metadata.file_modification_time").alias(SOURCE_MODIFIED),
        )
    )
    return files.transform(parse_landing_files(source.format, columns, source.delimiter)).withColumn(
        INGESTED_AT, F.current_timestamp()
    )


class LandingStager:
    """Lists the source's landing folder with ``landing_scan`` and copies new accepted files into the staging folder
    (``files``), the only folder the stream's file source reads. ``skipped``: every entry not read, by path."""

    def __init__(self, landing_dir: Path | str, source: BronzeSource, staging_dir: Path | str):
        self.landing = Path(landing_dir)
        self.source = source
        self.dir = Path(staging_dir)
        self.files = self.dir / "files"
        self.manifest = self.dir / "staged.jsonl"
        self.skipped: dict[str, landing_scan.Skipped] = {}
        self.staged: set[tuple[str, str]] = set()
        self.known: dict[str, dict] = {}
        self.accepted: list[str] = []  # landing paths of the accepted files (the schema sample)
        self._load()

    def _load(self) -> None:
        """The manifest; dot-temp copies a killed run left behind are removed (one stream per lakehouse holds the
        run lock while this runs, so none is being written)."""
        for tmp in self.files.glob(".tmp-*") if self.files.is_dir() else ():
            tmp.unlink(missing_ok=True)
        # folders the file source emptied (cleanSource) would be walked by every listing: removed before the query
        # starts (never while it runs: a folder vanishing under Spark's listing fails it)
        for folder, _, names in os.walk(self.files, topdown=False) if self.files.is_dir() else ():
            if folder != str(self.files) and not names:
                with contextlib.suppress(OSError):  # not empty: a sub-folder still holds a file
                    os.rmdir(folder)
        try:
            text = self.manifest.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        for line in text.splitlines():
            try:
                rec = json.loads(line)
                self.staged.add((rec["rel"], rec["sha256"]))
                self.known[rec["rel"]] = rec
            except (ValueError, KeyError, TypeError):
                continue  # a line cut off by a kill -9: the file is staged again under the same path

    def stage(self) -> int:
        """One pass: list, copy what is new. Returns how many files were staged."""
        self.files.mkdir(parents=True, exist_ok=True)
        scan = landing_scan.scan_source(self.landing, self.source, self.known)
        self.skipped = {s.rel: s for s in scan.skipped}  # the latest pass: an entry fixed since is not reported
        self.accepted = [f.path for f in scan.files]
        new = 0
        for f in scan.files:
            if (f.rel, f.sha256) in self.staged:
                self._retime(f)
                continue
            try:
                record = self._copy(f)
            except FileNotFoundError:
                self.skipped[f.rel] = landing_scan.skipped(f.rel, "vanished")
                continue
            except OSError as e:
                self.skipped[f.rel] = landing_scan.skipped(f.rel, "unreadable", error=landing_scan._err(e))
                continue
            self.staged.add((f.rel, record["sha256"]))
            self.known[f.rel] = record
            new += 1
        return new

    def _retime(self, f: landing_scan.LandedFile) -> None:
        """A staged file the scan re-hashed because its times moved (copied with its times, chmod, a hard link):
        its record takes the new times, so the next pass (every trigger) trusts it instead of hashing it again. In
        memory: after a restart the manifest's times cost one more hash."""
        record = f.retimed(self.known.get(f.rel))
        if record is not None:
            self.known[f.rel] = record

    def _copy(self, f: landing_scan.LandedFile) -> dict:
        """Copy (hashing the bytes copied: what is staged is what is named), rename into place, then record."""
        follow = os.path.islink(f.path)
        if follow and not landing_scan._inside(os.path.realpath(f.path), os.path.realpath(self.landing)):
            raise PermissionError(1, "became a symbolic link out of the landing", f.path)  # swapped since the scan
        tmp = self.files / f".tmp-{os.getpid()}-{next(_tmp_names)}"
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(landing_scan.open_regular(f.path, follow), "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            sha = digest.hexdigest()
            mtime = min(f.mtime_ns, time.time_ns())
            os.utime(tmp, ns=(mtime, mtime))
            target = self.files / sha[:_HASH_DIGITS] / f.rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        record = {"rel": f.rel, "size": size, "sha256": sha, "mtime_ns": f.mtime_ns, "ctime_ns": f.ctime_ns}
        with open(self.manifest, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return record

    def report(self) -> list[dict]:
        return [{"path": s.rel, "reason": s.reason, "detail": s.detail} for _, s in sorted(self.skipped.items())]


def staging_dir(checkpoint_dir: str | os.PathLike) -> Path:
    return Path(checkpoint_dir) / STAGING


def read_staged_stream(spark, settings: Settings, source: BronzeSource, stager: LandingStager,
                       max_files_per_trigger=None) -> DataFrame:
    """The stream over the stager's folder (call ``stager.stage()`` first): bronze-shaped rows whose
    ``_source_file`` is the landing path each file was staged from."""
    schema = schemas.ensure_schema(settings.schema_location(source.name), settings.landing_dir, source,
                                   files=stager.accepted)
    stager.files.mkdir(parents=True, exist_ok=True)
    staged_uri, landing_uri = (_spark_uri(spark, p) for p in (stager.files, stager.landing))
    path = F.col("_metadata.file_path")
    cut = len(staged_uri) + 1 + _HASH_DIGITS + 1  # "<staged>/<hash>/" -> "<landing>/"
    files = (
        spark.readStream.format("text")
        .options(**staged_source_options(source, max_files_per_trigger))
        .load(str(stager.files))
        .select(
            "value",
            F.when(path.startswith(staged_uri + "/"),
                   F.concat(F.lit(landing_uri + "/"), F.expr(f"substring(_metadata.file_path, {cut + 1})")))
            .otherwise(path).alias(SOURCE_FILE),
            F.col("_metadata.file_modification_time").alias(SOURCE_MODIFIED),
        )
    )
    return files.transform(parse_landing_files(source.format, columns=schema.columns,
                                               delimiter=source.delimiter)).withColumn(
        INGESTED_AT, F.current_timestamp()
    )


def _spark_uri(spark, folder: Path) -> str:
    """``folder`` as the file source writes it in ``_metadata.file_path`` (``file:/a%20b/...``)."""
    jpath = spark._jvm.org.apache.hadoop.fs.Path(os.path.abspath(folder))
    return "file:" + jpath.toUri().toString()
