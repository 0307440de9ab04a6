package io.kvstream.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.PromptBuilder;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Prompts from the reference files' {@code segments} (text with special tokens inline, or a
 * frame as base64 RGB), as the golden and eval files store them. The runtime's tests read them
 * here: the eval-set reader belongs to the command-line tools, not to the runtime.
 */
public final class SegmentPrompts {

    private static final ObjectMapper JSON = new ObjectMapper();

    private SegmentPrompts() {}

    /** One prompt from a {@code segments} array. */
    public static Prompt of(PromptBuilder builder, JsonNode segments) {
        Prompt prompt = new Prompt();
        byte[] previous = null;
        for (JsonNode s : segments) {
            if (s.has("frame")) {
                byte[] rgb = Base64.getDecoder().decode(s.get("rgb").asText());
                builder.appendFrame(prompt, s.get("frame").asInt(), rgb, previous);
                previous = rgb;
            } else {
                builder.appendText(prompt, s.get("text").asText());
            }
        }
        return prompt;
    }

    /** The prompts of the first {@code n} samples of a JSONL eval file. */
    public static List<Prompt> firstOf(PromptBuilder builder, Path jsonl, int n) throws IOException {
        List<Prompt> prompts = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(jsonl)) {
            String line;
            while (prompts.size() < n && (line = in.readLine()) != null) {
                if (!line.isBlank()) {
                    prompts.add(of(builder, JSON.readTree(line).get("segments")));
                }
            }
        }
        return prompts;
    }
}
