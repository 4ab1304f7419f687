"""Hadoop's local file system without a process per call, for the local Spark that fitlake starts itself.

Without Hadoop's native library (pyspark ships none), Hadoop's ``RawLocalFileSystem`` forks ``chmod`` for every
file it creates and ``readlink`` each time a rename checks for a symbolic link: every Delta commit, checkpoint file
and Parquet file. A ``fitlake run`` on the real export forked ~1,750 processes from its JVM (Java Flight Recorder,
``jdk.ProcessStart``; benchmarks/results/README.md). ``java/fitlake/hadoop/*.java`` does those two calls through
java.nio instead (every other call is Hadoop's own); ``make jars`` compiles it into the jar cache.

Used only when fitlake launches the JVM with a local master: under ``spark-submit`` or on a cluster the classes
would not be on every JVM's class path, so Hadoop's own file system stays.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SOURCES = Path(__file__).with_name("java")
FILE_SYSTEM = "fitlake.hadoop.NioLocalFileSystem"
ABSTRACT_FILE_SYSTEM = "fitlake.hadoop.NioLocalFs"


def _sources() -> list[Path]:
    return sorted(SOURCES.rglob("*.java"))


def jar_path(directory: Path) -> Path:
    """The jar built from exactly today's sources (their digest in its name, so an edit is never run stale)."""
    digest = hashlib.sha256()
    for src in _sources():
        digest.update(src.relative_to(SOURCES).as_posix().encode() + b"\0" + src.read_bytes())
    return Path(directory) / f"fitlake-localfs-{digest.hexdigest()[:12]}.jar"


def _hadoop_api_jar() -> Path | None:
    import pyspark

    found = sorted(Path(pyspark.__file__).parent.joinpath("jars").glob("hadoop-client-api-*.jar"))
    return found[-1] if found else None


def build(directory: Path) -> Path | None:
    """Compile the sources into the jar cache (skipped when present); None, with a note, when no JDK compiler or
    Hadoop API jar is at hand: fitlake then runs on Hadoop's own local file system, only slower."""
    target = jar_path(directory)
    if target.is_file():
        return target
    javac, api = shutil.which("javac"), _hadoop_api_jar()
    if javac is None or api is None:
        missing = "javac (a JDK)" if javac is None else "pyspark's hadoop-client-api jar"
        print(f"fitlake: {missing} not found: the local file system without forks is not built "
              "(fitlake works, each file write just costs a process more)", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [javac, "--release", "17", "-nowarn", "-cp", str(api), "-d", tmp, *map(str, _sources())]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"fitlake: compiling {SOURCES} failed, Hadoop's own local file system is used: "
                  f"{proc.stderr[-800:]}", file=sys.stderr)
            return None
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
            for cls in sorted(Path(tmp).rglob("*.class")):
                jar.write(cls, cls.relative_to(tmp).as_posix())
        partial.replace(target)
    for old in Path(directory).glob("fitlake-localfs-*.jar"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


def spark_conf(directory: Path) -> dict[str, str]:
    """The confs that put the file system in place (for a JVM fitlake launches with a local master), or {} when
    the jar is not built or ``FITLAKE_LOCAL_FS=hadoop`` asks for Hadoop's own."""
    if os.environ.get("FITLAKE_LOCAL_FS", "").lower() == "hadoop":
        return {}
    jar = jar_path(directory)
    if not jar.is_file():
        return {}
    return {
        "spark.driver.extraClassPath": str(jar),
        "spark.hadoop.fs.file.impl": FILE_SYSTEM,
        "spark.hadoop.fs.AbstractFileSystem.file.impl": ABSTRACT_FILE_SYSTEM,
    }
