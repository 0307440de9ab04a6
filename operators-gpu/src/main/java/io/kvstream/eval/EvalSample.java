package io.kvstream.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import javax.annotation.Nullable;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * One sample of the eval format ({@code eval-shared.jsonl}): a session's segments, ending right
 * after {@code <|assistant|>}, and the expected reply.
 *
 * @param index line number, from 0
 * @param task {@code chat}, {@code passkey} or {@code video}
 * @param answer the expected reply
 * @param referenceAnswer what Hugging Face greedy decoding with a full cache answered, if given
 */
public record EvalSample(
        int index,
        String task,
        List<Segment> segments,
        String answer,
        @Nullable String referenceAnswer) {

    /** A piece of the session: text (with special tokens inline) or a video frame. */
    public record Segment(@Nullable String text, int frame, @Nullable byte[] rgb) {

        public static Segment text(String text) {
            return new Segment(text, -1, null);
        }

        public static Segment frame(int index, byte[] rgb) {
            return new Segment(null, index, rgb);
        }

        public boolean isFrame() {
            return rgb != null;
        }
    }

    /** Reads every sample of a JSONL file, failing with the line number on a malformed line. */
    public static List<EvalSample> read(Path file) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        List<EvalSample> samples = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(file)) {
            String line;
            int lineNo = 0;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                try {
                    samples.add(parse(samples.size(), mapper.readTree(line)));
                } catch (IOException | IllegalArgumentException e) {
                    throw new IOException(
                            String.format("%s line %d: %s", file, lineNo, e.getMessage()), e);
                }
            }
        }
        return samples;
    }

    static EvalSample parse(int index, JsonNode node) {
        String task = required(node, "task").asText();
        List<Segment> segments = new ArrayList<>();
        for (JsonNode seg : required(node, "segments")) {
            if (seg.has("text")) {
                segments.add(Segment.text(seg.get("text").asText()));
            } else if (seg.has("frame") && seg.has("rgb")) {
                segments.add(
                        Segment.frame(
                                seg.get("frame").asInt(),
                                Base64.getDecoder().decode(seg.get("rgb").asText())));
            } else {
                throw new IllegalArgumentException("segment is neither text nor frame: " + seg);
            }
        }
        JsonNode ref = node.get("reference_answer");
        return new EvalSample(
                index,
                task,
                segments,
                required(node, "answer").asText(),
                ref == null || ref.isNull() ? null : ref.asText());
    }

    private static JsonNode required(JsonNode node, String field) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            throw new IllegalArgumentException("missing field '" + field + "'");
        }
        return value;
    }
}
