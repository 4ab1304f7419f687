"""The class data archive (fitlake.cds): keyed on the JVM and its class path, used by the JVMs fitlake starts."""

from __future__ import annotations

import os
from pathlib import Path

from fitlake import cds, jars
from fitlake.cds import java_executable


def test_the_archive_name_follows_the_class_path(tmp_path):
    java = java_executable()
    extra = tmp_path / "extra.jar"
    extra.write_bytes(b"PK one")
    first = cds.archive_path(tmp_path, java, [extra])
    assert first == cds.archive_path(tmp_path, java, [extra])  # stable for the same JVM and jars
    assert first.parent == tmp_path / "cds" and first.suffix == ".jsa"
    extra.write_bytes(b"PK two, longer")  # another jar on the class path: another archive
    assert cds.archive_path(tmp_path, java, [extra]) != first
    assert cds.archive_path(tmp_path, java, []) != first


def test_options_use_a_built_archive_dump_when_asked_and_nothing_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv("FITLAKE_CDS_DUMP", raising=False)
    monkeypatch.delenv("FITLAKE_CDS", raising=False)
    archive = tmp_path / "cds" / "fitlake-x.jsa"
    assert cds.jvm_options(archive) == []  # not built: run without one
    archive.parent.mkdir()
    archive.write_bytes(b"archive")
    assert cds.jvm_options(archive) == [f"-XX:SharedArchiveFile={archive}", *cds.QUIET]
    monkeypatch.setenv("FITLAKE_CDS", "off")
    assert cds.jvm_options(archive) == []
    monkeypatch.setenv("FITLAKE_CDS_DUMP", str(tmp_path / "new.jsa"))
    assert cds.jvm_options(archive)[0] == f"-XX:ArchiveClassesAtExit={tmp_path / 'new.jsa'}"


def test_make_jars_built_the_archive_and_the_session_jvm_maps_it(spark):
    """`make jars` (before every `make test`) dumps the archive for this JVM and class path; the suite's own JVM,
    started by fitlake.spark.get_spark, is launched with it."""
    if os.environ.get("FITLAKE_CDS", "on") == "off":
        return
    jvm = spark.sparkContext._jvm
    bean = jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    class_path = [Path(p) for p in str(bean.getClassPath()).split(os.pathsep) if p.endswith(".jar")]
    archive = cds.archive_for(jars.jar_dir(), java_executable(), {"spark.driver.extraClassPath": os.pathsep.join(
        str(p) for p in class_path if p.name.startswith("fitlake-localfs-"))})
    assert archive.is_file(), f"no class data archive at {archive}: `make jars` builds it"
    assert archive.parent == jars.jar_dir() / "cds"
    args = list(bean.getInputArguments())
    assert f"-XX:SharedArchiveFile={archive}" in args
    # the JVM accepted it: the archive is mapped into its memory (a rejected one is not)
    pid = bean.getPid()
    assert str(archive) in Path(f"/proc/{pid}/maps").read_text(), "the JVM was given the archive but did not map it"
