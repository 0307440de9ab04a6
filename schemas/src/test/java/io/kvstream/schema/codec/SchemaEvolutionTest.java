package io.kvstream.schema.codec;

import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.UserTurn;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * v1 is the shipped SessionEvent (generated class); v2 is a test-only successor that adds an
 * optional {@code client} field, read and written as generic records the way a future build would.
 */
class SchemaEvolutionTest {

    private final Schema v1 = SessionEvent.getClassSchema();
    private final Schema v2 = TestEvents.evolutionSchema("SessionEvent-v2.avsc");

    /** What a build with v2 knows: both versions, writing v2. */
    private final SingleObjectCodec<GenericRecord> newCodec =
            SingleObjectCodec.forGeneric(v2, SchemaHistory.load(v1).plus(v2));

    @Test
    void newReaderReadsOldWriterFillingTheDefault() throws Exception {
        for (SessionEvent old : TestEvents.everyPayload()) {
            byte[] written = KvstreamCodecs.sessionEvents().encode(old);

            GenericRecord read = newCodec.decode(written);

            assertThat(read.getSchema()).isEqualTo(v2);
            assertThat(read.get("client")).isNull();
            assertThat(read.get("event_id").toString()).isEqualTo(old.getEventId());
            assertThat(read.get("session_id").toString()).isEqualTo(old.getSessionId());
            assertThat(read.get("timestamp_ms")).isEqualTo(old.getTimestampMs());
            assertThat(((GenericRecord) read.get("payload")).getSchema().getName())
                    .isEqualTo(old.getPayload().getClass().getSimpleName());
        }
    }

    @Test
    void oldReaderWithTheNewVersionInItsStoreReadsNewWriterDroppingTheField() throws Exception {
        byte[] written = newCodec.encode(v2Event("web-ui"));
        assertThat(SingleObjectCodec.readFingerprint(written))
                .isEqualTo(SchemaHistory.fingerprint(v2));

        // The v1 class, resolving from v2 as the writer schema.
        SingleObjectCodec<SessionEvent> oldReader =
                SingleObjectCodec.forSpecific(SessionEvent.class, SchemaHistory.load(v1).plus(v2));
        SessionEvent read = oldReader.decode(written);

        assertThat(read.getEventId()).isEqualTo("e-42");
        assertThat(read.getSessionId()).isEqualTo("s-7");
        assertThat(read.getTimestampMs()).isEqualTo(99L);
        assertThat(read.getPayload()).isInstanceOf(UserTurn.class);
        UserTurn turn = (UserTurn) read.getPayload();
        assertThat(turn.getText()).isEqualTo("hi");
        assertThat(turn.getMaxNewTokens()).isEqualTo(5);
        assertThat(turn.getSampling().getSeed()).isEqualTo(42L);
    }

    @Test
    void oldReaderThatWasNotGivenTheNewVersionFailsClearly() {
        byte[] written = newCodec.encode(v2Event(null));
        assertThatThrownBy(() -> KvstreamCodecs.sessionEvents().decode(written))
                .isInstanceOf(UnknownSchemaException.class)
                .hasMessageContaining(
                        String.format("0x%016x", SchemaHistory.fingerprint(v2)))
                .hasMessageContaining("Deploy readers with the new schema version first");
    }

    /**
     * Plain Avro resolution would read the unknown {@code Cancel} as {@code EndOfSession} (the
     * first branch it structurally fits): the codec must refuse it instead.
     */
    @Test
    void oldReaderFailsOnlyOnAPayloadTypeItDoesNotKnow() throws Exception {
        Schema v2b = TestEvents.evolutionSchema("SessionEvent-v2-new-payload.avsc");
        SingleObjectCodec<GenericRecord> writer =
                SingleObjectCodec.forGeneric(v2b, SchemaHistory.load(v1).plus(v2b));
        SingleObjectCodec<SessionEvent> oldReader =
                SingleObjectCodec.forSpecific(SessionEvent.class, SchemaHistory.load(v1).plus(v2b));

        Schema payloads = v2b.getField("payload").schema();
        GenericRecord cancel =
                new GenericData.Record(payloads.getTypes().get(payloads.getTypes().size() - 1));
        cancel.put("target_event_id", "e-1");
        assertThatThrownBy(() -> oldReader.decode(writer.encode(event(v2b, cancel))))
                .isExactlyInstanceOf(MessageDecodingException.class)
                .hasMessageContaining("writer v2")
                .hasMessageContaining("io.kvstream.schema.Cancel is not one of this reader's types");

        GenericRecord end = new GenericData.Record(payloads.getTypes().get(4));
        end.put("reason", "bye");
        SessionEvent read = oldReader.decode(writer.encode(event(v2b, end)));
        assertThat(read.getPayload().toString()).contains("bye");
    }

    private GenericRecord v2Event(String client) {
        Schema userTurn = v2.getField("payload").schema().getTypes().get(0);
        GenericRecord turn = new GenericData.Record(userTurn);
        turn.put("text", "hi");
        turn.put("max_new_tokens", 5);
        GenericRecord sampling = new GenericData.Record(userTurn.getField("sampling").schema());
        sampling.put("temperature", 0f);
        sampling.put("top_k", 0);
        sampling.put("top_p", 1f);
        sampling.put("repetition_penalty", 1f);
        sampling.put("seed", 42L);
        turn.put("sampling", sampling);
        GenericRecord event = event(v2, turn);
        event.put("client", client);
        return event;
    }

    private static GenericRecord event(Schema schema, GenericRecord payload) {
        GenericRecord event = new GenericData.Record(schema);
        event.put("event_id", "e-42");
        event.put("session_id", "s-7");
        event.put("timestamp_ms", 99L);
        event.put("payload", payload);
        return event;
    }
}
