package io.kvstream.kv.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.state.rocksdb.PredefinedOptions;
import org.apache.flink.state.rocksdb.RocksDBResourceContainer;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompressionType;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

class KvRocksDbOptionsFactoryTest {

    static {
        RocksDB.loadLibrary();
    }

    @Test
    void setsNoCompressionAndALargerWriteBufferAndNoBlobFilesByDefault() {
        List<AutoCloseable> handles = new ArrayList<>();
        try (ColumnFamilyOptions base = new ColumnFamilyOptions()) {
            long defaultBuffer = base.writeBufferSize();
            // As Flink's backend sets it before the factory runs.
            base.setCompressionPerLevel(List.of(CompressionType.SNAPPY_COMPRESSION));
            ColumnFamilyOptions options = new KvRocksDbOptionsFactory().createColumnOptions(base, handles);
            assertThat(options.enableBlobFiles()).isFalse();
            assertThat(options.compressionType()).isEqualTo(CompressionType.NO_COMPRESSION);
            assertThat(options.compressionPerLevel()).isEmpty();
            assertThat(options.writeBufferSize()).isEqualTo(128L << 20).isGreaterThan(defaultBuffer);
            assertThat(options.minBlobSize()).isEqualTo(4096);
            assertThat(options.blobCompressionType()).isEqualTo(CompressionType.NO_COMPRESSION);
            assertThat(options.enableBlobGarbageCollection()).isTrue();
            assertThat(options.blobFileSize()).isEqualTo(256L << 20);
        }
        try (DBOptions db = new DBOptions()) {
            assertThat(new KvRocksDbOptionsFactory().createDBOptions(db, handles)).isSameAs(db);
        }
    }

    @Test
    void readsItsSettingsFromTheConfiguration() throws Exception {
        Configuration conf = new Configuration();
        conf.set(KvRocksDbOptionsFactory.BLOB_FILES, true);
        conf.set(KvRocksDbOptionsFactory.MIN_BLOB_SIZE, MemorySize.parse("16kb"));
        conf.set(KvRocksDbOptionsFactory.WRITE_BUFFER_SIZE, MemorySize.parse("32mb"));
        KvRocksDbOptionsFactory factory = (KvRocksDbOptionsFactory) new KvRocksDbOptionsFactory().configure(conf);
        assertThat(factory.blobFiles()).isTrue();
        assertThat(factory.minBlobSize()).isEqualTo(16384);
        assertThat(factory.writeBufferSize()).isEqualTo(32L << 20);
        try (ColumnFamilyOptions options = factory.createColumnOptions(new ColumnFamilyOptions(), new ArrayList<>())) {
            assertThat(options.enableBlobFiles()).isTrue();
            assertThat(options.minBlobSize()).isEqualTo(16384);
        }
        // Flink ships the factory to the task managers by Java serialization.
        KvRocksDbOptionsFactory copy = InstantiationUtil.clone(factory);
        assertThat(copy.blobFiles()).isTrue();
        assertThat(copy.minBlobSize()).isEqualTo(16384);
        assertThatThrownBy(() -> new KvRocksDbOptionsFactory(true, -1, 1, 1))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void blobFilesHoldValuesOverTheMinBlobSize(@TempDir Path dir) throws Exception {
        KvRocksDbOptionsFactory blobs = new KvRocksDbOptionsFactory(true, 4096, 64L << 20, 256L << 20);
        File[] files = writeAndFlush(blobs, dir.resolve("blobs"));
        long blobBytes = Arrays.stream(files).filter(f -> f.getName().endsWith(".blob")).mapToLong(File::length).sum();
        long sstBytes = Arrays.stream(files).filter(f -> f.getName().endsWith(".sst")).mapToLong(File::length).sum();
        // Eight 64 KiB values in the blob file, the SST keeps keys, blob references and the small value.
        assertThat(blobBytes).isGreaterThanOrEqualTo(8 * 65536L);
        assertThat(sstBytes).isLessThan(65536L);

        File[] inline = writeAndFlush(new KvRocksDbOptionsFactory(), dir.resolve("inline"));
        assertThat(inline).noneMatch(f -> f.getName().endsWith(".blob"));
        assertThat(Arrays.stream(inline).filter(f -> f.getName().endsWith(".sst")).mapToLong(File::length).sum())
                .isGreaterThanOrEqualTo(8 * 65536L);
    }

    /** Puts eight 64 KiB values and one of 100 bytes through Flink's option stack, flushes, reads back. */
    private static File[] writeAndFlush(KvRocksDbOptionsFactory factory, Path path) throws Exception {
        Random random = new Random(7);
        byte[][] values = new byte[9][];
        for (int i = 0; i < values.length; i++) {
            values[i] = new byte[i < 8 ? 65536 : 100];
            random.nextBytes(values[i]);
        }
        try (RocksDBResourceContainer container = new RocksDBResourceContainer(PredefinedOptions.DEFAULT, factory);
                Options options = new Options(container.getDbOptions(), container.getColumnOptions());
                RocksDB db = RocksDB.open(options, path.toString());
                FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
            for (int i = 0; i < values.length; i++) {
                db.put(container.getWriteOptions(), key(i), values[i]);
            }
            db.flush(flush);
            for (int i = 0; i < values.length; i++) {
                assertThat(db.get(key(i))).isEqualTo(values[i]);
            }
        }
        return path.toFile().listFiles();
    }

    private static byte[] key(int i) {
        return ("block-" + i).getBytes(StandardCharsets.UTF_8);
    }
}
