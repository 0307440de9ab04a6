package io.kvstream.kv.state;

import static org.apache.flink.util.Preconditions.checkArgument;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.state.rocksdb.ConfigurableRocksDBOptionsFactory;
import org.apache.flink.state.rocksdb.RocksDBOptionsFactory;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompressionType;
import org.rocksdb.DBOptions;

import java.util.Collection;
import java.util.Collections;

/**
 * RocksDB tuned for KV-cache blocks: values of tens to hundreds of KiB, written once per turn,
 * already compressed by the codec.
 *
 * <p>Nothing is compressed again, since quantized payloads do not shrink and would only cost CPU;
 * a larger write buffer holds a few turns of blocks when checkpoints are far apart (each
 * checkpoint flushes it anyway).
 *
 * <p>Blob files (BlobDB) are off unless {@link #BLOB_FILES} is set. They let compaction move small
 * index entries instead of rewriting the blocks, which about halves the bytes written to local
 * disk ({@code KvStateWriteBenchmark}); but Flink's incremental checkpoints share only {@code .sst}
 * files between checkpoints and upload every other file each time, so with blob files every
 * incremental checkpoint copies the whole KV state. Turn them on only with full (non-incremental)
 * checkpoints, which copy all live state each time anyway.
 */
public final class KvRocksDbOptionsFactory implements ConfigurableRocksDBOptionsFactory {

    private static final long serialVersionUID = 1L;

    public static final ConfigOption<Boolean> BLOB_FILES =
            ConfigOptions.key("kvstream.rocksdb.blob-files")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription("Whether values of at least the min blob size go to blob files. Flink 2.2's "
                            + "incremental checkpoints upload all blob files at every checkpoint: use with "
                            + "full checkpoints only.");

    public static final ConfigOption<MemorySize> MIN_BLOB_SIZE =
            ConfigOptions.key("kvstream.rocksdb.min-blob-size")
                    .memoryType()
                    .defaultValue(MemorySize.parse("4kb"))
                    .withDescription("Values at least this large are stored in blob files.");

    public static final ConfigOption<MemorySize> WRITE_BUFFER_SIZE =
            ConfigOptions.key("kvstream.rocksdb.write-buffer-size")
                    .memoryType()
                    .defaultValue(MemorySize.parse("128mb"))
                    .withDescription("Memtable size per column family.");

    public static final ConfigOption<MemorySize> BLOB_FILE_SIZE =
            ConfigOptions.key("kvstream.rocksdb.blob-file-size")
                    .memoryType()
                    .defaultValue(MemorySize.parse("256mb"))
                    .withDescription("Target size of a blob file.");

    private final boolean blobFiles;
    private final long minBlobSize;
    private final long writeBufferSize;
    private final long blobFileSize;

    public KvRocksDbOptionsFactory() {
        this(BLOB_FILES.defaultValue(), MIN_BLOB_SIZE.defaultValue().getBytes(),
                WRITE_BUFFER_SIZE.defaultValue().getBytes(), BLOB_FILE_SIZE.defaultValue().getBytes());
    }

    public KvRocksDbOptionsFactory(boolean blobFiles, long minBlobSize, long writeBufferSize, long blobFileSize) {
        checkArgument(minBlobSize >= 0, "min blob size must be >= 0, not %s", minBlobSize);
        checkArgument(writeBufferSize > 0, "write buffer size must be > 0, not %s", writeBufferSize);
        checkArgument(blobFileSize > 0, "blob file size must be > 0, not %s", blobFileSize);
        this.blobFiles = blobFiles;
        this.minBlobSize = minBlobSize;
        this.writeBufferSize = writeBufferSize;
        this.blobFileSize = blobFileSize;
    }

    public boolean blobFiles() {
        return blobFiles;
    }

    public long minBlobSize() {
        return minBlobSize;
    }

    public long writeBufferSize() {
        return writeBufferSize;
    }

    public long blobFileSize() {
        return blobFileSize;
    }

    @Override
    public RocksDBOptionsFactory configure(ReadableConfig config) {
        return new KvRocksDbOptionsFactory(
                config.get(BLOB_FILES),
                config.get(MIN_BLOB_SIZE).getBytes(),
                config.get(WRITE_BUFFER_SIZE).getBytes(),
                config.get(BLOB_FILE_SIZE).getBytes());
    }

    @Override
    public DBOptions createDBOptions(DBOptions current, Collection<AutoCloseable> handlesToClose) {
        return current;
    }

    @Override
    public ColumnFamilyOptions createColumnOptions(
            ColumnFamilyOptions current, Collection<AutoCloseable> handlesToClose) {
        return current
                .setEnableBlobFiles(blobFiles)
                .setMinBlobSize(minBlobSize)
                .setBlobFileSize(blobFileSize)
                .setBlobCompressionType(CompressionType.NO_COMPRESSION)
                .setEnableBlobGarbageCollection(true)
                .setCompressionType(CompressionType.NO_COMPRESSION)
                // Flink sets a per-level list (SNAPPY by default), which RocksDB prefers to the above.
                .setCompressionPerLevel(Collections.emptyList())
                .setWriteBufferSize(writeBufferSize);
    }

    @Override
    public String toString() {
        return "KvRocksDbOptionsFactory{blobFiles=" + blobFiles + ", minBlobSize=" + minBlobSize + ", writeBufferSize=" + writeBufferSize
                + ", blobFileSize=" + blobFileSize + "}";
    }
}
