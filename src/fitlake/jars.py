"""The JVM jars fitlake needs beside pyspark, resolved once from Maven Central into a project-local cache.

Spark's own ``--packages`` resolution goes through Ivy into ``~/.ivy2`` on every new machine; we resolve with
Maven into ``.cache/jars`` instead so later runs (and CI reruns) need no network, and so a broken cache can be
named precisely.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

SCALA = "2.13"
SPARK_VERSION = "4.0.1"
DELTA_VERSION = "4.0.1"
KAFKA_CLIENTS_VERSION = "3.9.1"  # what spark-sql-kafka-0-10_2.13:4.0.1 is built against

# group -> Maven coordinates (groupId:artifactId:version). Transitive jars already shipped by pyspark are not listed.
JAR_GROUPS: dict[str, list[str]] = {
    "delta": [
        f"io.delta:delta-spark_{SCALA}:{DELTA_VERSION}",
        f"io.delta:delta-storage:{DELTA_VERSION}",
    ],
    "kafka": [
        f"org.apache.spark:spark-sql-kafka-0-10_{SCALA}:{SPARK_VERSION}",
        # 4.0.1 of the token provider is not served by our Maven Central mirror; 4.0.0 has the same API.
        f"org.apache.spark:spark-token-provider-kafka-0-10_{SCALA}:4.0.0",
        f"org.apache.kafka:kafka-clients:{KAFKA_CLIENTS_VERSION}",
        "org.apache.commons:commons-pool2:2.12.0",
    ],
}


class JarCacheError(RuntimeError):
    """Raised with one sentence that names the missing jar and the fix."""


def jar_dir() -> Path:
    """The project-local jar cache: $FITLAKE_JARS_DIR, else the nearest ``.cache/jars`` up from cwd or this file."""
    env = os.environ.get("FITLAKE_JARS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for d in (start, *start.parents):
            if (d / ".cache" / "jars").is_dir() or (d / "pyproject.toml").is_file() and (d / "src" / "fitlake").is_dir():
                return d / ".cache" / "jars"
    return Path.cwd() / ".cache" / "jars"


def jar_file_name(coordinate: str) -> str:
    _, artifact, version = coordinate.split(":")
    return f"{artifact}-{version}.jar"


def jar_paths(groups: tuple[str, ...] = ("delta",), directory: Path | None = None) -> list[Path]:
    directory = directory or jar_dir()
    return [directory / jar_file_name(c) for g in groups for c in JAR_GROUPS[g]]


def _is_valid_jar(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None if path.stat().st_size < 2_000_000 else bool(z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def check_jars(groups: tuple[str, ...] = ("delta",), directory: Path | None = None) -> list[Path]:
    """Return the jar paths, or raise JarCacheError naming the first missing or corrupt one and the fix."""
    paths = jar_paths(groups, directory)
    for p in paths:
        if not p.is_file():
            raise JarCacheError(
                f"Missing JVM jar {p.name} in {p.parent}: run `make jars` once with access to Maven Central "
                f"(or set FITLAKE_JARS_DIR to a folder that holds it)."
            )
        if not _is_valid_jar(p):
            raise JarCacheError(
                f"Corrupt JVM jar {p} (not a readable zip): delete it and run `make jars` to fetch it again "
                f"from Maven Central."
            )
    return paths


def resolve(groups: tuple[str, ...] = ("delta", "kafka"), directory: Path | None = None) -> list[Path]:
    """Copy the jars of ``groups`` from Maven Central into the cache with ``mvn dependency:copy``; skip present ones."""
    directory = directory or jar_dir()
    directory.mkdir(parents=True, exist_ok=True)
    mvn = shutil.which("mvn")
    for group in groups:
        for coordinate in JAR_GROUPS[group]:
            target = directory / jar_file_name(coordinate)
            if target.is_file() and _is_valid_jar(target):
                continue
            target.unlink(missing_ok=True)
            if mvn is None:
                raise JarCacheError(f"Cannot fetch {coordinate}: Maven (`mvn`) is not installed; install it.")
            cmd = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={coordinate}",
                   f"-DoutputDirectory={directory}", "-Dmdep.overWriteReleases=true"]
            print(f"fitlake: fetching {coordinate} into {directory}", file=sys.stderr)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0 or not target.is_file():
                raise JarCacheError(
                    f"Could not fetch {coordinate} from Maven Central (mvn exit {proc.returncode}): "
                    f"check network access to Maven Central. {proc.stdout[-500:]}{proc.stderr[-500:]}"
                )
    return check_jars(groups, directory)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fitlake.jars", description=resolve.__doc__)
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"jar groups, any of {sorted(JAR_GROUPS)} (default: all)")
    parser.add_argument("--no-archive", action="store_true",
                        help="the jars only, not the JVM's class data archive (one small `fitlake run`, fitlake.cds)")
    args = parser.parse_args(argv)
    unknown = set(args.groups) - set(JAR_GROUPS)
    if unknown:
        parser.error(f"unknown jar group(s) {sorted(unknown)}; choose from {sorted(JAR_GROUPS)}")
    try:
        paths = resolve(tuple(args.groups or JAR_GROUPS))
    except JarCacheError as e:
        print(f"fitlake: {e}", file=sys.stderr)
        return 2
    from fitlake import cds, localfs

    built = localfs.build(jar_dir())  # compiled here, from the repo's sources: nothing to fetch
    print(f"fitlake: {len(paths) + (built is not None)} jars ready in {jar_dir()}")
    java = cds.java_executable()
    if java is not None and cds.enabled() and not args.no_archive:
        archive = cds.archive_for(jar_dir(), java, localfs.spark_conf(jar_dir()))
        if not archive.is_file():
            print("fitlake: building the JVM's class data archive (one small `fitlake run`)", file=sys.stderr)
        if cds.build(archive) is not None:
            print(f"fitlake: class data archive ready: {archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
