package fitlake.hadoop;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.DelegateToFileSystem;
import org.apache.hadoop.fs.FsConstants;

/** The FileContext side of {@link NioRawLocalFileSystem} (what Hadoop's RawLocalFs is to RawLocalFileSystem). */
public class NioRawLocalFs extends DelegateToFileSystem {
    public NioRawLocalFs(URI theUri, Configuration conf) throws IOException, URISyntaxException {
        super(theUri, new NioRawLocalFileSystem(), conf, FsConstants.LOCAL_FS_URI.getScheme(), false);
    }

    @Override
    public int getUriDefaultPort() {
        return -1; // no default port for file:///
    }

    @Override
    public boolean isValidName(String src) {
        return true; // as RawLocalFs: a local path may hold characters HDFS refuses
    }
}
