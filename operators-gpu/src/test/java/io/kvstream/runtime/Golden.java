package io.kvstream.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;
import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The golden cases of a {@code golden*.json} file: inputs, logits and greedy continuations. */
record Golden(
        String task, JsonNode segments, int[] ids, Map<Integer, float[]> logitsAt,
        @Nullable int[] greedyIds, @Nullable String greedyText) {

    static List<Golden> read(Path file) throws IOException {
        JsonNode root = new ObjectMapper().readTree(file.toFile());
        List<Golden> cases = new ArrayList<>();
        for (JsonNode c : root.get("cases")) {
            int[] ids = ints(c.get("ids"));
            Map<Integer, float[]> at = new LinkedHashMap<>();
            Iterator<Map.Entry<String, JsonNode>> it =
                    c.has("logits_at") ? c.get("logits_at").fields() : Collections.emptyIterator();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                at.put(Integer.parseInt(e.getKey()), floats(e.getValue()));
            }
            at.put(ids.length - 1, floats(c.get("last_logits")));
            cases.add(new Golden(
                    c.has("task") ? c.get("task").asText() : "case" + cases.size(),
                    c.get("segments"), ids, at,
                    c.has("greedy_ids") ? ints(c.get("greedy_ids")) : null,
                    c.has("greedy_text") ? c.get("greedy_text").asText() : null));
        }
        return cases;
    }

    boolean hasFrames() {
        if (segments == null) {
            return false;
        }
        for (JsonNode s : segments) {
            if (s.has("frame")) {
                return true;
            }
        }
        return false;
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    private static float[] floats(JsonNode array) {
        float[] out = new float[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) array.get(i).asDouble();
        }
        return out;
    }
}
