package io.kvstream.pipeline;

import io.kvstream.schema.ContextMessage;
import io.kvstream.schema.EndOfSession;
import io.kvstream.schema.Sampling;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.UserTurn;
import io.kvstream.schema.VideoFrame;
import io.kvstream.schema.VideoQuery;

import java.nio.ByteBuffer;

/** Session events for tests. */
public final class Events {

    private Events() {}

    public static Sampling greedy() {
        return new Sampling(0f, 0, 1f, 1f, 42L);
    }

    public static SessionEvent turn(String session, String id, String text, int maxNewTokens) {
        return event(session, id, new UserTurn(text, maxNewTokens, greedy()));
    }

    public static SessionEvent context(String session, String id, String role, String text) {
        return event(session, id, new ContextMessage(role, text));
    }

    public static SessionEvent frame(String session, String id, int index, int width, int height, byte[] rgb) {
        return event(session, id, new VideoFrame(index, index * 1000L, width, height, ByteBuffer.wrap(rgb)));
    }

    public static SessionEvent query(String session, String id, String text, int maxNewTokens) {
        return event(session, id, new VideoQuery(text, maxNewTokens, greedy()));
    }

    public static SessionEvent end(String session, String id) {
        return event(session, id, new EndOfSession(null));
    }

    public static SessionEvent event(String session, String id, Object payload) {
        return new SessionEvent(id, session, System.currentTimeMillis(), payload);
    }
}
