package io.kvstream.connect.serde;

import io.kvstream.connect.Decoded;
import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.SessionEvent;

import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.assertj.core.api.Assertions.assertThat;

class TypeSerializersTest {

    private static final SessionEvent EVENT = DecodingKafkaDeserializerTest.event("s1", "e1", "hi");
    private static final DeadLetter DEAD_LETTER =
            DeadLetter.newBuilder()
                    .setTopic("t")
                    .setPartition(1)
                    .setOffset(2)
                    .setKey(ByteBuffer.wrap(new byte[] {7}))
                    .setValue(ByteBuffer.wrap(new byte[] {1, 2}))
                    .setError("bad")
                    .setTimestampMs(3)
                    .build();

    private static <T> T roundTrip(TypeSerializer<T> serializer, T value) throws Exception {
        DataOutputSerializer out = new DataOutputSerializer(64);
        serializer.serialize(value, out);
        serializer.serialize(value, out);
        DataInputDeserializer in = new DataInputDeserializer(out.getCopyOfBuffer());
        T first = serializer.deserialize(in);
        // copy(in, out) must move exactly one record.
        DataOutputSerializer copied = new DataOutputSerializer(64);
        serializer.copy(in, copied);
        assertThat(in.available()).isZero();
        assertThat(serializer.deserialize(new DataInputDeserializer(copied.getCopyOfBuffer())))
                .isEqualTo(first);
        return first;
    }

    @Test
    void recordsRoundTripAndCopyDeeply() throws Exception {
        TypeSerializer<SessionEvent> s =
                SingleObjectTypeInfo.forRecord(SessionEvent.class).createSerializer(new SerializerConfigImpl());
        assertThat(roundTrip(s, EVENT)).isEqualTo(EVENT);
        SessionEvent copy = s.copy(EVENT);
        assertThat(copy).isEqualTo(EVENT).isNotSameAs(EVENT);
        copy.setSessionId("changed");
        assertThat(EVENT.getSessionId()).isEqualTo("s1");
    }

    @Test
    void decodedRoundTripsBothWays() throws Exception {
        TypeSerializer<Decoded<SessionEvent>> s =
                DecodedTypeInfo.forValues(SessionEvent.class).createSerializer(new SerializerConfigImpl());
        assertThat(roundTrip(s, Decoded.of(EVENT))).isEqualTo(Decoded.of(EVENT));
        assertThat(roundTrip(s, Decoded.failed(DEAD_LETTER))).isEqualTo(Decoded.failed(DEAD_LETTER));
        assertThat(s.copy(Decoded.failed(DEAD_LETTER))).isEqualTo(Decoded.failed(DEAD_LETTER));
    }

    @Test
    void snapshotsRestoreACompatibleSerializer() throws Exception {
        TypeSerializer<Decoded<SessionEvent>> s = new DecodedSerializer<>(SessionEvent.class);
        TypeSerializerSnapshot<Decoded<SessionEvent>> restored =
                writeAndRead(s.snapshotConfiguration());
        assertThat(restored.restoreSerializer()).isEqualTo(s);
        assertThat(s.snapshotConfiguration().resolveSchemaCompatibility(restored).isCompatibleAsIs())
                .isTrue();

        TypeSerializer<SessionEvent> r = new SingleObjectTypeSerializer<>(SessionEvent.class);
        TypeSerializerSnapshot<SessionEvent> restoredRecord = writeAndRead(r.snapshotConfiguration());
        assertThat(restoredRecord.restoreSerializer()).isEqualTo(r);
        assertThat(r.snapshotConfiguration().resolveSchemaCompatibility(restoredRecord).isCompatibleAsIs())
                .isTrue();
    }

    @SuppressWarnings("unchecked")
    private static <T> TypeSerializerSnapshot<T> writeAndRead(TypeSerializerSnapshot<T> snapshot)
            throws Exception {
        DataOutputSerializer out = new DataOutputSerializer(64);
        TypeSerializerSnapshot.writeVersionedSnapshot(out, snapshot);
        return TypeSerializerSnapshot.readVersionedSnapshot(
                new DataInputDeserializer(out.getCopyOfBuffer()), TypeSerializersTest.class.getClassLoader());
    }
}
