package fitlake.hadoop;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;

import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * Hadoop's local file system without a process per call.
 *
 * <p>Without Hadoop's native library (not shipped with pyspark), {@link RawLocalFileSystem} forks {@code chmod}
 * for every file it creates and {@code readlink} every time a rename checks whether a path is a symbolic link
 * (Delta's commits and Spark's checkpoint files rename). A {@code fitlake run} forked ~1,750 processes from its
 * JVM. These two overrides do the same through java.nio, in-process; every other call, and any path that is a
 * symbolic link or a permission Java cannot express (sticky bit), still takes Hadoop's own code.
 */
public class NioRawLocalFileSystem extends RawLocalFileSystem {

    @Override
    public void setPermission(Path p, FsPermission permission) throws IOException {
        short mode = permission.toShort();
        if ((mode & ~0777) != 0) {
            super.setPermission(p, permission);
            return;
        }
        File file = pathToFile(p);
        Files.setPosixFilePermissions(file.toPath(), PosixFilePermissions.fromString(permission.toString()));
    }

    @Override
    public FileStatus getFileLinkStatus(Path f) throws IOException {
        if (Files.isSymbolicLink(pathToFile(f).toPath())) {
            return super.getFileLinkStatus(f);
        }
        return getFileStatus(f); // what Hadoop returns for a path that is not a link (FileNotFoundException if absent)
    }
}
