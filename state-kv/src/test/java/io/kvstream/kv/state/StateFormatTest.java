package io.kvstream.kv.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.ForwardSim;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.RopeSpec;
import io.kvstream.kv.block.EncodedBlock;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.array.IntPrimitiveArraySerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

class StateFormatTest {

    @Test
    void storedBytesAreWhatTheSerializersWrite() throws Exception {
        RopeSpec rope = new RopeSpec(64, 1e4f, false);
        CompressedKvCache cache = new CompressedKvCache(
                KvSpec.parse("kivi2+window:sink=4,recent=100"), 2, 4, 2, 64, 2048, rope);
        new ForwardSim(cache, 4, rope, 21).feed(300, 50);
        int[] history = new int[cache.tokens()];
        DataOutputSerializer out = new DataOutputSerializer(1 << 16);
        String model = "0".repeat(CompressedKvCache.FINGERPRINT_CHARS);
        SessionMetaSerializer.INSTANCE.serialize(cache.sessionMeta(model, history.length), out);
        int metaEnd = out.length();
        for (int c = 0; c < HistoryChunks.chunks(history.length); c++) {
            IntPrimitiveArraySerializer.INSTANCE.serialize(HistoryChunks.chunk(history, history.length, c), out);
        }
        int historyEnd = out.length();
        for (EncodedBlock block : cache.blocks()) {
            EncodedBlockSerializer.INSTANCE.serialize(block, out);
        }
        assertThat((long) out.length()).isEqualTo(cache.storedBytes());

        // Read back through the serializers and restore a fresh cache from them.
        DataInputDeserializer in = new DataInputDeserializer(out.getSharedBuffer(), 0, out.length());
        SessionMeta meta = SessionMetaSerializer.INSTANCE.deserialize(in);
        assertThat(meta.model()).isEqualTo(model);
        assertThat(meta.historyLength()).isEqualTo(history.length);
        assertThat(metaEnd).isLessThan(historyEnd);
        for (int c = 0; c < HistoryChunks.chunks(history.length); c++) {
            IntPrimitiveArraySerializer.INSTANCE.deserialize(in);
        }
        List<EncodedBlock> blocks = new ArrayList<>();
        while (in.available() > 0) {
            blocks.add(EncodedBlockSerializer.INSTANCE.deserialize(in));
        }
        CompressedKvCache restored = new CompressedKvCache(
                KvSpec.parse("kivi2+window:sink=4,recent=100"), 2, 4, 2, 64, 2048, rope);
        restored.restore("s", meta, blocks);
        assertThat(restored.nextPosition()).isEqualTo(104);
        assertThat(restored.blocks()).isEqualTo(cache.blocks());
    }

    @Test
    void metadataOfTheFirstFormatIsReadWithItsInlineHistory() throws Exception {
        // The first format, as jobs before the model fingerprint wrote it.
        DataOutputSerializer out = new DataOutputSerializer(64);
        out.writeInt(3);
        out.writeInt(3);
        out.writeUTF("kivi2");
        out.writeInt(1);
        out.writeInt(3);
        out.writeInt(7);
        out.writeInt(8);
        out.writeInt(9);
        SessionMeta meta = SessionMetaSerializer.INSTANCE.deserialize(
                new DataInputDeserializer(out.getSharedBuffer(), 0, out.length()));
        assertThat(meta.model()).isEmpty();
        assertThat(meta.historyLength()).isEqualTo(3);
        assertThat(meta.inlineHistory()).containsExactly(7, 8, 9);
        assertThat(meta.spec()).isEqualTo("kivi2");
    }

    @Test
    void historyChunksRoundTripAndNameWhatIsMissing() throws Exception {
        int[] history = new int[600];
        for (int i = 0; i < history.length; i++) {
            history[i] = i * 3;
        }
        java.util.Map<Integer, int[]> chunks = new java.util.HashMap<>();
        for (int c = HistoryChunks.firstChanged(0); c < HistoryChunks.chunks(history.length); c++) {
            chunks.put(c, HistoryChunks.chunk(history, history.length, c));
        }
        assertThat(chunks).hasSize(3);
        assertThat(HistoryChunks.join(chunks, history.length)).isEqualTo(history);
        // Appending to 600 ids rewrites the third chunk only.
        assertThat(HistoryChunks.firstChanged(600)).isEqualTo(2);
        chunks.remove(1);
        assertThatThrownBy(() -> HistoryChunks.join(chunks, history.length))
                .hasMessageContaining("chunk 1 of 3 is missing");
    }

    @Test
    void snapshotsResolveAsCompatibleAfterARoundTrip() throws Exception {
        checkSnapshot(EncodedBlockSerializer.INSTANCE);
        checkSnapshot(SessionMetaSerializer.INSTANCE);
    }

    private static <T> void checkSnapshot(TypeSerializer<T> serializer) throws Exception {
        TypeSerializerSnapshot<T> snapshot = serializer.snapshotConfiguration();
        DataOutputSerializer out = new DataOutputSerializer(64);
        TypeSerializerSnapshot.writeVersionedSnapshot(out, snapshot);
        TypeSerializerSnapshot<T> read = TypeSerializerSnapshot.readVersionedSnapshot(
                new DataInputDeserializer(out.getCopyOfBuffer()), StateFormatTest.class.getClassLoader());
        assertThat(read).isInstanceOf(snapshot.getClass());
        TypeSerializerSchemaCompatibility<T> compat =
                serializer.snapshotConfiguration().resolveSchemaCompatibility(read);
        assertThat(compat.isCompatibleAsIs()).isTrue();
        assertThat(read.restoreSerializer()).isEqualTo(serializer);
    }
}
