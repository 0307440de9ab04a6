package io.kvstream.pipeline;

import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.TokenDelta;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Reading response streams in tests. */
public final class Responses {

    private Responses() {}

    /** The final responses by event id, in order of arrival. */
    public static Map<String, FinalResponse> finals(List<ResponseEvent> responses) {
        Map<String, FinalResponse> out = new LinkedHashMap<>();
        for (ResponseEvent r : responses) {
            if (r.getPayload() instanceof FinalResponse) {
                out.put(r.getEventId(), (FinalResponse) r.getPayload());
            }
        }
        return out;
    }

    public static Map<String, ErrorEvent> errors(List<ResponseEvent> responses) {
        Map<String, ErrorEvent> out = new LinkedHashMap<>();
        for (ResponseEvent r : responses) {
            if (r.getPayload() instanceof ErrorEvent) {
                out.put(r.getEventId(), (ErrorEvent) r.getPayload());
            }
        }
        return out;
    }

    public static List<TokenDelta> deltas(List<ResponseEvent> responses, String eventId) {
        List<TokenDelta> out = new ArrayList<>();
        for (ResponseEvent r : responses) {
            if (r.getEventId().equals(eventId) && r.getPayload() instanceof TokenDelta) {
                out.add((TokenDelta) r.getPayload());
            }
        }
        return out;
    }

    /** The text of a reply as streamed: the deltas joined. */
    public static String streamedText(List<ResponseEvent> responses, String eventId) {
        StringBuilder sb = new StringBuilder();
        for (TokenDelta d : deltas(responses, eventId)) {
            sb.append(d.getText());
        }
        return sb.toString();
    }
}
