"""Class Data Sharing for the local JVM: Spark's and Delta's classes loaded from an archive, not parsed and verified
again by every JVM fitlake starts.

A `fitlake run` on the real export spent a large part of its JVM's CPU loading, verifying and linking the same ~20k
classes every time (benchmarks/results/README.md, "JVM settings"). JDK 17's dynamic CDS archive keeps them, already
parsed, in a file the JVM maps at start. ``make jars`` builds it (``build``): one small `fitlake run` on the
repository's fixture landing with ``-XX:ArchiveClassesAtExit``, so the archive holds what a run loads.

The archive is only valid for the exact JVM and class path it was dumped with, so its name carries a digest of both
(``archive_path``): another JDK, pyspark or jar set looks for another file, and runs without one until ``make jars``
builds it. A JVM that still cannot use an archive ignores it (the JVM checks, and its warning is switched off).
Like ``fitlake.localfs``, only for JVMs fitlake launches itself with a local master. ``FITLAKE_CDS=off`` opts out.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUIET = ["-Xlog:cds=off", "-Xlog:cds+dynamic=off"]  # an unusable archive: run without it, say nothing


def enabled() -> bool:
    return os.environ.get("FITLAKE_CDS", "on").lower() not in ("off", "0", "false", "no")


@functools.lru_cache(maxsize=None)
def _java_version(java: str) -> str:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    return out.stderr + out.stdout


def _class_path(extra: list[Path]) -> list[Path]:
    """The jars of the launched JVM's class path (pyspark's own, plus ``extra``: spark.driver.extraClassPath)."""
    import pyspark

    return [*extra, *sorted(Path(pyspark.__file__).parent.joinpath("jars").glob("*.jar"))]


def archive_path(jar_dir: Path, java: str, extra_class_path: list[Path]) -> Path:
    """The archive for this JVM (its version text) and this class path (each jar's path, size and modification
    time). The jars Spark adds at start (``spark.jars``) are not in the key: the JVM checks each archived class of
    theirs against its class file when it loads it."""
    digest = hashlib.sha256(_java_version(java).encode())
    for jar in _class_path(extra_class_path):
        st = jar.stat()
        digest.update(f"\0{jar.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return Path(jar_dir) / "cds" / f"fitlake-{digest.hexdigest()[:16]}.jsa"


def java_executable() -> str | None:
    """The ``java`` fitlake starts: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def archive_for(jar_dir: Path, java: str, options: dict[str, str]) -> Path:
    """The archive for a local JVM started with Spark ``options`` (its ``spark.driver.extraClassPath``)."""
    extra = [Path(p) for p in options.get("spark.driver.extraClassPath", "").split(os.pathsep) if p]
    return archive_path(jar_dir, java, extra)


def jvm_options(archive: Path) -> list[str]:
    """The driver's JVM options that use ``archive`` (none when it is not built, or FITLAKE_CDS=off); with
    FITLAKE_CDS_DUMP set (``build``), the options that dump one there instead."""
    dump = os.environ.get("FITLAKE_CDS_DUMP")
    if dump:
        return [f"-XX:ArchiveClassesAtExit={dump}", *QUIET]
    if not enabled() or not archive.is_file():
        return []
    return [f"-XX:SharedArchiveFile={archive}", *QUIET]


def fixture_landing() -> Path | None:
    """The repository's fixture landing (every source format, 236 kB): the workload the archive is dumped from."""
    landing = Path(__file__).resolve().parents[2] / "fixtures" / "landing"
    return landing if landing.is_dir() else None


def build(archive: Path, timeout_s: float = 900) -> Path | None:
    """Dump ``archive`` from one `fitlake run` of the fixture landing into a scratch lakehouse (skipped when it
    exists). The JVM writes the archive as it exits, after the Python process that started it: wait for the whole
    process group, then move the file into place (a killed build leaves no archive, only a scratch file)."""
    if archive.is_file() or not enabled():
        return archive if archive.is_file() else None
    landing = fixture_landing()
    if landing is None:
        print("fitlake: no fixture landing beside the sources: the class data archive is not built "
              "(fitlake works, each JVM just starts slower)", file=sys.stderr)
        return None
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.{os.getpid()}")
    with tempfile.TemporaryDirectory(prefix="fitlake-cds-") as tmp:
        env = {**os.environ, "FITLAKE_CDS_DUMP": str(partial)}
        cmd = [sys.executable, "-m", "fitlake.cli", "run", "--root", str(Path(tmp) / "lake"), "--landing", str(landing),
               "--no-generate", "--date-order", "month_first"]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
        _, err = proc.communicate(timeout=timeout_s)
        while _group_alive(proc.pid) and time.monotonic() - started < timeout_s:  # the JVM is still dumping
            time.sleep(0.2)
    if proc.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        print(f"fitlake: the class data archive was not built (run exited {proc.returncode}): {err[-500:]}",
              file=sys.stderr)
        return None
    partial.replace(archive)
    for old in archive.parent.glob("fitlake-*.jsa"):
        if old != archive:
            old.unlink(missing_ok=True)
    return archive


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
