package fitlake.hadoop;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFs;

/**
 * {@code fs.AbstractFileSystem.file.impl}: the FileContext local file system that Delta's HDFSLogStore and Spark's
 * checkpoint file manager write through; Hadoop's LocalFs (checksums) over {@link NioRawLocalFs}.
 */
public class NioLocalFs extends ChecksumFs {
    public NioLocalFs(URI theUri, Configuration conf) throws IOException, URISyntaxException {
        super(new NioRawLocalFs(theUri, conf));
    }
}
