package io.kvstream.connect;

import io.kvstream.connect.serde.RecordCheck;
import io.kvstream.schema.SessionEvent;

import javax.annotation.Nullable;

import java.nio.charset.StandardCharsets;

/**
 * A session event must name its session, and must be keyed by it: Kafka keeps the records of
 * one key in one partition, in order, and the job serves a session's events in the order they
 * arrive. An event keyed otherwise could overtake its session's earlier events.
 */
public final class SessionEventCheck implements RecordCheck<SessionEvent> {

    private static final long serialVersionUID = 1L;

    /** Ids and keys longer than this are cut in messages. */
    private static final int SHOWN_CHARS = 80;

    @Nullable
    @Override
    public String problem(@Nullable byte[] key, SessionEvent event) {
        String session = event.getSessionId();
        if (session == null || session.isBlank()) {
            return "empty session_id: every event must name its session";
        }
        if (key == null) {
            return String.format(
                    "no Kafka key: the key must be the session_id ('%s'), which keeps a session's events in one"
                            + " partition, in order", shown(session));
        }
        String keyText = new String(key, StandardCharsets.UTF_8);
        if (!keyText.equals(session)) {
            return String.format(
                    "Kafka key '%s' differs from session_id '%s': the key must be the session_id, which keeps a"
                            + " session's events in one partition, in order", shown(keyText), shown(session));
        }
        return null;
    }

    private static String shown(String text) {
        return text.length() <= SHOWN_CHARS ? text : text.substring(0, SHOWN_CHARS) + "...";
    }
}
