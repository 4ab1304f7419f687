"""The local file system without forks (src/fitlake/localfs.py + java/): in place in fitlake's own local sessions,
and the same answers as Hadoop's own for the two calls it replaces."""

from __future__ import annotations

import os
import stat

from fitlake import jars, localfs


def test_make_jars_builds_it_and_the_session_uses_it(spark):
    assert localfs.jar_path(jars.jar_dir()).is_file(), "`make jars` compiles src/fitlake/java into the jar cache"
    jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
    uri = jvm.java.net.URI("file:///")
    assert jvm.org.apache.hadoop.fs.FileSystem.get(uri, conf).getClass().getName() == localfs.FILE_SYSTEM
    file_context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(uri, conf)
    assert file_context.getDefaultFileSystem().getClass().getName() == localfs.ABSTRACT_FILE_SYSTEM


def test_permissions_and_link_status_match_hadoops(spark, tmp_path):
    jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
    ours = jvm.fitlake.hadoop.NioRawLocalFileSystem()
    hadoops = jvm.org.apache.hadoop.fs.RawLocalFileSystem()
    for fs in (ours, hadoops):
        fs.initialize(jvm.java.net.URI("file:///"), conf)
    plain, link, missing = tmp_path / "plain.json", tmp_path / "link.json", tmp_path / "missing.json"
    plain.write_text("{}\n")
    link.symlink_to(plain)
    path = jvm.org.apache.hadoop.fs.Path

    for mode in (0o640, 0o755, 0o600):
        ours.setPermission(path(str(plain)), jvm.org.apache.hadoop.fs.permission.FsPermission(mode))
        assert stat.S_IMODE(os.stat(plain).st_mode) == mode

    for fs in (ours, hadoops):
        plain_status = fs.getFileLinkStatus(path(str(plain)))
        assert not plain_status.isSymlink() and plain_status.getLen() == 3
        assert fs.getFileLinkStatus(path(str(link))).isSymlink()
    try:
        ours.getFileLinkStatus(path(str(missing)))
        raise AssertionError("a missing path has no status")
    except Exception as e:  # noqa: BLE001 - py4j wraps Java's exception
        assert "FileNotFoundException" in str(e)


def test_hadoop_asks_for_hadoops_own(monkeypatch, tmp_path):
    monkeypatch.setenv("FITLAKE_LOCAL_FS", "hadoop")
    assert localfs.spark_conf(jars.jar_dir()) == {}
    monkeypatch.delenv("FITLAKE_LOCAL_FS")
    assert localfs.spark_conf(tmp_path) == {}  # not built there: Hadoop's own, no error
    assert localfs.spark_conf(jars.jar_dir())["spark.hadoop.fs.file.impl"] == localfs.FILE_SYSTEM
