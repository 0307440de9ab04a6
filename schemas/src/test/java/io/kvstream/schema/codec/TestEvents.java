package io.kvstream.schema.codec;

import io.kvstream.schema.ContextMessage;
import io.kvstream.schema.EndOfSession;
import io.kvstream.schema.Sampling;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.UserTurn;
import io.kvstream.schema.VideoFrame;
import io.kvstream.schema.VideoQuery;

import org.apache.avro.Schema;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.List;

/** Events of every payload type, and the test-only schema versions. */
final class TestEvents {

    private TestEvents() {}

    static SessionEvent event(String eventId, String sessionId, Object payload) {
        return SessionEvent.newBuilder()
                .setEventId(eventId)
                .setSessionId(sessionId)
                .setTimestampMs(1_700_000_000_000L)
                .setPayload(payload)
                .build();
    }

    static List<SessionEvent> everyPayload() {
        byte[] rgb = new byte[2 * 3 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 37);
        }
        return List.of(
                event("e1", "s1", UserTurn.newBuilder().setText("Hello, wörld ✓").build()),
                event(
                        "e2",
                        "s1",
                        UserTurn.newBuilder()
                                .setText("sample")
                                .setMaxNewTokens(7)
                                .setSampling(new Sampling(0.8f, 40, 0.9f, 1.1f, -5L))
                                .build()),
                event(
                        "e3",
                        "s1",
                        new VideoFrame(3, 1234L, 2, 3, ByteBuffer.wrap(rgb))),
                event("e4", "s1", VideoQuery.newBuilder().setText("what moves?").build()),
                event("e5", "s1", new ContextMessage("system", "You are terse.")),
                event("e6", "s1", new EndOfSession(null)),
                event("e7", "s1", new EndOfSession("idle")));
    }

    static Schema evolutionSchema(String name) {
        String resource = "/io/kvstream/schema/evolution/" + name;
        try (InputStream in = TestEvents.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("Missing test resource " + resource);
            }
            return new Schema.Parser().parse(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
