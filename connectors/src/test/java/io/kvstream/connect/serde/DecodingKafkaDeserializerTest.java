package io.kvstream.connect.serde;

import io.kvstream.connect.Decoded;
import io.kvstream.connect.SessionEventCheck;
import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.UserTurn;
import io.kvstream.schema.codec.KvstreamCodecs;

import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

class DecodingKafkaDeserializerTest {

    private final DecodingKafkaDeserializer<SessionEvent> deserializer =
            new DecodingKafkaDeserializer<>(SessionEvent.class);

    static SessionEvent event(String session, String eventId, String text) {
        return SessionEvent.newBuilder()
                .setEventId(eventId)
                .setSessionId(session)
                .setTimestampMs(1L)
                .setPayload(UserTurn.newBuilder().setText(text).build())
                .build();
    }

    private static ConsumerRecord<byte[], byte[]> record(long offset, byte[] key, byte[] value) {
        return new ConsumerRecord<>(
                "events", 5, offset, 1234L, TimestampType.CREATE_TIME, -1, -1, key, value,
                new RecordHeaders(), Optional.empty());
    }

    private List<Decoded<SessionEvent>> deserialize(ConsumerRecord<byte[], byte[]> record) {
        return deserialize(deserializer, record);
    }

    @Test
    void decodesAValue() throws Exception {
        SessionEvent e = event("s1", "e1", "hi");
        List<Decoded<SessionEvent>> out =
                deserialize(record(0, "s1".getBytes(), KvstreamCodecs.sessionEvents().encode(e)));
        assertThat(out).containsExactly(Decoded.of(e));
    }

    @Test
    void garbageBecomesADeadLetterKeepingTheRecord() throws Exception {
        byte[] key = "s1".getBytes(StandardCharsets.UTF_8);
        byte[] value = "{\"json\": \"not avro\"}".getBytes(StandardCharsets.UTF_8);

        List<Decoded<SessionEvent>> out = deserialize(record(42, key, value));

        assertThat(out).hasSize(1);
        assertThat(out.get(0).isValue()).isFalse();
        DeadLetter dl = out.get(0).deadLetter();
        assertThat(dl.getTopic()).isEqualTo("events");
        assertThat(dl.getPartition()).isEqualTo(5);
        assertThat(dl.getOffset()).isEqualTo(42L);
        assertThat(dl.getTimestampMs()).isEqualTo(1234L);
        assertThat(dl.getKey()).isEqualTo(ByteBuffer.wrap(key));
        assertThat(dl.getValue()).isEqualTo(ByteBuffer.wrap(value));
        assertThat(dl.getError()).contains("Not an Avro single-object encoded message");
        assertThat(dl.getFailedAtMs()).isPositive();
    }

    @Test
    void unknownSchemaVersionAndTombstonesBecomeDeadLetters() throws Exception {
        byte[] value = KvstreamCodecs.sessionEvents().encode(event("s1", "e1", "x"));
        value[5] ^= 1;
        DeadLetter unknown = deserialize(record(1, null, value)).get(0).deadLetter();
        assertThat(unknown.getError()).startsWith("UnknownSchemaException: Unknown schema fingerprint");
        assertThat(unknown.getKey()).isNull();

        DeadLetter tombstone = deserialize(record(2, "s1".getBytes(), null)).get(0).deadLetter();
        assertThat(tombstone.getValue()).isNull();
        assertThat(tombstone.getError()).contains("null");
    }

    @Test
    void producesDecodedTypeInformation() {
        assertThat(deserializer.getProducedType()).isEqualTo(DecodedTypeInfo.forValues(SessionEvent.class));
    }

    @Test
    void eventsWithoutASessionOrKeyedByAnotherBecomeDeadLettersNamingWhy() throws Exception {
        DecodingKafkaDeserializer<SessionEvent> checked =
                new DecodingKafkaDeserializer<>(SessionEvent.class, new SessionEventCheck());
        byte[] ok = KvstreamCodecs.sessionEvents().encode(event("s1", "e1", "hi"));
        assertThat(deserialize(checked, record(0, "s1".getBytes(), ok)).get(0).isValue()).isTrue();

        DeadLetter otherKey = deserialize(checked, record(1, "s2".getBytes(), ok)).get(0).deadLetter();
        assertThat(otherKey.getError()).contains("Kafka key 's2' differs from session_id 's1'");
        DeadLetter noKey = deserialize(checked, record(2, null, ok)).get(0).deadLetter();
        assertThat(noKey.getError()).contains("no Kafka key");
        byte[] empty = KvstreamCodecs.sessionEvents().encode(event("", "e2", "hi"));
        DeadLetter emptySession = deserialize(checked, record(3, new byte[0], empty)).get(0).deadLetter();
        assertThat(emptySession.getError()).contains("empty session_id");
        assertThat(emptySession.getOffset()).isEqualTo(3L);
    }

    private static List<Decoded<SessionEvent>> deserialize(
            DecodingKafkaDeserializer<SessionEvent> deserializer, ConsumerRecord<byte[], byte[]> record) {
        List<Decoded<SessionEvent>> out = new ArrayList<>();
        deserializer.deserialize(record, new Collector<>() {
            @Override
            public void collect(Decoded<SessionEvent> r) {
                out.add(r);
            }

            @Override
            public void close() {}
        });
        return out;
    }
}
