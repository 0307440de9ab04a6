package io.kvstream.kv.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompressionType;
import org.rocksdb.DBOptions;
import org.rocksdb.RocksDB;

import java.util.ArrayList;
import java.util.List;

class KvRocksDbOptionsFactoryTest {

    static {
        RocksDB.loadLibrary();
    }

    @Test
    void setsBlobFilesWithoutCompressionAndALargerWriteBuffer() {
        List<AutoCloseable> handles = new ArrayList<>();
        try (ColumnFamilyOptions base = new ColumnFamilyOptions()) {
            long defaultBuffer = base.writeBufferSize();
            ColumnFamilyOptions options = new KvRocksDbOptionsFactory().createColumnOptions(base, handles);
            assertThat(options.enableBlobFiles()).isTrue();
            assertThat(options.minBlobSize()).isEqualTo(4096);
            assertThat(options.blobCompressionType()).isEqualTo(CompressionType.NO_COMPRESSION);
            assertThat(options.compressionType()).isEqualTo(CompressionType.NO_COMPRESSION);
            assertThat(options.enableBlobGarbageCollection()).isTrue();
            assertThat(options.writeBufferSize()).isEqualTo(128L << 20).isGreaterThan(defaultBuffer);
            assertThat(options.blobFileSize()).isEqualTo(256L << 20);
        }
        try (DBOptions db = new DBOptions()) {
            assertThat(new KvRocksDbOptionsFactory().createDBOptions(db, handles)).isSameAs(db);
        }
    }

    @Test
    void readsItsSettingsFromTheConfiguration() throws Exception {
        Configuration conf = new Configuration();
        conf.set(KvRocksDbOptionsFactory.MIN_BLOB_SIZE, MemorySize.parse("16kb"));
        conf.set(KvRocksDbOptionsFactory.WRITE_BUFFER_SIZE, MemorySize.parse("32mb"));
        KvRocksDbOptionsFactory factory = (KvRocksDbOptionsFactory) new KvRocksDbOptionsFactory().configure(conf);
        assertThat(factory.minBlobSize()).isEqualTo(16384);
        assertThat(factory.writeBufferSize()).isEqualTo(32L << 20);
        try (ColumnFamilyOptions options = factory.createColumnOptions(new ColumnFamilyOptions(), new ArrayList<>())) {
            assertThat(options.minBlobSize()).isEqualTo(16384);
        }
        // Flink ships the factory to the task managers by Java serialization.
        KvRocksDbOptionsFactory copy = InstantiationUtil.clone(factory);
        assertThat(copy.minBlobSize()).isEqualTo(16384);
        assertThatThrownBy(() -> new KvRocksDbOptionsFactory(-1, 1, 1)).isInstanceOf(IllegalArgumentException.class);
    }
}
