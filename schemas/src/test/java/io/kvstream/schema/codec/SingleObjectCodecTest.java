package io.kvstream.schema.codec;

import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.FinishReason;
import io.kvstream.schema.ErrorCode;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.Sampling;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.Timings;
import io.kvstream.schema.TokenDelta;
import io.kvstream.schema.Usage;
import io.kvstream.schema.UserTurn;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SingleObjectCodecTest {

    private final SingleObjectCodec<SessionEvent> events = KvstreamCodecs.sessionEvents();

    @Test
    void everySessionEventPayloadRoundTrips() throws Exception {
        for (SessionEvent event : TestEvents.everyPayload()) {
            byte[] bytes = events.encode(event);
            SessionEvent back = events.decode(bytes);
            assertThat(back).as("%s", event).isEqualTo(event);
            assertThat(back.getPayload().getClass()).isEqualTo(event.getPayload().getClass());
        }
    }

    @Test
    void userTurnDefaultsAreGreedyWithAFixedSeed() {
        UserTurn turn = UserTurn.newBuilder().setText("hi").build();
        assertThat(turn.getMaxNewTokens()).isEqualTo(128);
        Sampling s = turn.getSampling();
        assertThat(s.getTemperature()).isZero();
        assertThat(s.getTopK()).isZero();
        assertThat(s.getTopP()).isEqualTo(1f);
        assertThat(s.getRepetitionPenalty()).isEqualTo(1f);
        assertThat(s.getSeed()).isEqualTo(42L);
    }

    @Test
    void messageStartsWithMarkerAndFingerprintOfWriterSchema() throws Exception {
        byte[] bytes = events.encode(TestEvents.everyPayload().get(0));
        assertThat(bytes[0]).isEqualTo((byte) 0xC3);
        assertThat(bytes[1]).isEqualTo((byte) 0x01);
        long inHeader = ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertThat(inHeader).isEqualTo(SchemaHistory.fingerprint(SessionEvent.getClassSchema()));
        assertThat(SingleObjectCodec.readFingerprint(bytes)).isEqualTo(inHeader);
    }

    @Test
    void responsesAndDeadLettersRoundTrip() throws Exception {
        SingleObjectCodec<ResponseEvent> responses = KvstreamCodecs.responseEvents();
        List<ResponseEvent> all =
                List.of(
                        new ResponseEvent("e1", "s1", new TokenDelta(0, "Hel", List.of(9906, 75))),
                        new ResponseEvent(
                                "e1",
                                "s1",
                                new FinalResponse(
                                        "Hello",
                                        FinishReason.CANCELLED,
                                        new Usage(12, 4, 2),
                                        new Timings(1L, 20L, 30L))),
                        new ResponseEvent(
                                "e2", "s1", new ErrorEvent(ErrorCode.CONTEXT_OVERFLOW, "full")));
        for (ResponseEvent r : all) {
            assertThat(responses.decode(responses.encode(r))).isEqualTo(r);
        }

        SingleObjectCodec<DeadLetter> deadLetters = KvstreamCodecs.deadLetters();
        DeadLetter dl =
                DeadLetter.newBuilder()
                        .setTopic("t")
                        .setPartition(3)
                        .setOffset(99L)
                        .setKey(null)
                        .setValue(ByteBuffer.wrap(new byte[] {1, 2, 3}))
                        .setError("boom")
                        .setTimestampMs(5L)
                        .build();
        assertThat(deadLetters.decode(deadLetters.encode(dl))).isEqualTo(dl);
    }

    @Test
    void encodingARecordWithAMissingRequiredFieldFailsClearly() {
        SessionEvent broken = TestEvents.everyPayload().get(0);
        broken.setSessionId(null);
        assertThatThrownBy(() -> events.encode(broken))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("io.kvstream.schema.SessionEvent");
    }

    @Test
    void garbageIsRejectedAsNotSingleObjectEncoded() {
        for (byte[] garbage :
                new byte[][] {
                    new byte[0], "hello world, not avro".getBytes(), {(byte) 0xC3, 0x01, 1, 2}
                }) {
            assertThatThrownBy(() -> events.decode(garbage))
                    .isExactlyInstanceOf(MessageDecodingException.class)
                    .hasMessageContaining("Not an Avro single-object encoded message");
        }
        assertThatThrownBy(() -> events.decode(null))
                .isInstanceOf(MessageDecodingException.class)
                .hasMessageContaining("null");
    }

    @Test
    void malformedBodiesAreDecodingErrorsNotCrashes() throws Exception {
        byte[] good = events.encode(TestEvents.everyPayload().get(1));

        byte[] truncated = Arrays.copyOf(good, good.length - 5);
        assertThatThrownBy(() -> events.decode(truncated))
                .isExactlyInstanceOf(MessageDecodingException.class)
                .hasMessageContaining("Malformed io.kvstream.schema.SessionEvent")
                .hasMessageContaining("writer v1");

        // A valid header, then an event_id claiming 64 MiB (zig-zag varint) in a 30-byte message.
        // Avro 1.11 allocates the claimed length before it finds the data missing; the JVM flags
        // org.apache.avro.limits.{string,bytes}.maxLength cap that in production.
        byte[] hugeLength = Arrays.copyOf(good, SingleObjectCodec.HEADER_LENGTH + 20);
        byte[] varint = {(byte) 0x80, (byte) 0x80, (byte) 0x80, 0x40};
        System.arraycopy(varint, 0, hugeLength, SingleObjectCodec.HEADER_LENGTH, varint.length);
        assertThatThrownBy(() -> events.decode(hugeLength))
                .isExactlyInstanceOf(MessageDecodingException.class);

        // An out-of-range union branch.
        byte[] badBranch = good.clone();
        int payloadIndexAt = SingleObjectCodec.HEADER_LENGTH + 1 + 2 + 1 + 2 + 6;
        assertThat(badBranch[payloadIndexAt]).as("branch 0 (UserTurn) zig-zag").isEqualTo((byte) 0);
        badBranch[payloadIndexAt] = 40;
        assertThatThrownBy(() -> events.decode(badBranch))
                .isExactlyInstanceOf(MessageDecodingException.class);
    }

    @Test
    void unknownFingerprintFailsWithTheFingerprintAndTheKnownVersions() throws Exception {
        byte[] bytes = events.encode(TestEvents.everyPayload().get(0));
        bytes[2] ^= 0x5A;
        long unknown = SingleObjectCodec.readFingerprint(bytes);
        assertThatThrownBy(() -> events.decode(bytes))
                .isInstanceOf(UnknownSchemaException.class)
                .hasMessageContaining(String.format("0x%016x", unknown))
                .hasMessageContaining("io.kvstream.schema.SessionEvent")
                .hasMessageContaining("knows v1 (0x")
                .satisfies(e -> assertThat(((UnknownSchemaException) e).fingerprint()).isEqualTo(unknown));
    }

    @Test
    void aDeadLetterMessageIsNotReadAsASessionEvent() {
        byte[] deadLetter =
                KvstreamCodecs.deadLetters()
                        .encode(
                                DeadLetter.newBuilder()
                                        .setTopic("t")
                                        .setPartition(0)
                                        .setOffset(0)
                                        .setError("e")
                                        .setTimestampMs(0)
                                        .build());
        assertThatThrownBy(() -> events.decode(deadLetter)).isInstanceOf(UnknownSchemaException.class);
    }
}
