package io.kvstream.kv.state;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.ForwardSim;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.RopeSpec;
import io.kvstream.kv.block.EncodedBlock;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
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
        SessionMetaSerializer.INSTANCE.serialize(cache.sessionMeta(history), out);
        for (EncodedBlock block : cache.blocks()) {
            EncodedBlockSerializer.INSTANCE.serialize(block, out);
        }
        assertThat((long) out.length()).isEqualTo(cache.storedBytes());

        // Read back through the serializers and restore a fresh cache from them.
        DataInputDeserializer in = new DataInputDeserializer(out.getSharedBuffer(), 0, out.length());
        SessionMeta meta = SessionMetaSerializer.INSTANCE.deserialize(in);
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
