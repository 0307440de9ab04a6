package io.kvstream.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvstream.tokenizer.ChatMessage;

import javax.annotation.Nullable;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

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

    /**
     * What a session does, event by event: a message to prefill, a frame, or the final user turn
     * to answer. This is how the pipeline receives a sample (each step one event), so offline
     * eval feeds the cache in the same pieces.
     */
    public sealed interface Step permits Message, Frame {}

    /** A chat message; {@code answer} marks the last user turn, the one to reply to. */
    public record Message(ChatMessage message, boolean answer) implements Step {}

    /** A video frame. */
    public record Frame(int index, byte[] rgb) implements Step {}

    private static final Pattern PROMPT =
            Pattern.compile("<\\|(system|user)\\|>(.*)<\\|end\\|><\\|assistant\\|>", Pattern.DOTALL);
    private static final Pattern REPLY = Pattern.compile("(?!<\\|)(.*)<\\|end\\|>", Pattern.DOTALL);
    private static final String BOS = "<|bos|>";

    /**
     * The sample as session events. Segments are rendered chat: {@code <|bos|>} (the session's
     * start), {@code <|user|>X<|end|><|assistant|>} (a user message, the last one to be
     * answered), {@code Y<|end|>} (an assistant reply), and frames.
     *
     * @throws IllegalArgumentException for a segment of another shape, or no final user turn
     */
    public List<Step> steps() {
        List<Step> steps = new ArrayList<>();
        for (int i = 0; i < segments.size(); i++) {
            Segment s = segments.get(i);
            if (s.isFrame()) {
                steps.add(new Frame(s.frame(), s.rgb()));
                continue;
            }
            String text = s.text();
            if (i == 0 && text.equals(BOS)) {
                continue;
            }
            Matcher prompt = PROMPT.matcher(text);
            Matcher reply = REPLY.matcher(text);
            if (prompt.matches()) {
                boolean last = i == segments.size() - 1;
                steps.add(new Message(new ChatMessage(prompt.group(1), prompt.group(2)), last));
            } else if (reply.matches()) {
                steps.add(new Message(ChatMessage.assistant(reply.group(1)), false));
            } else {
                throw new IllegalArgumentException(
                        String.format(
                                "sample %d segment %d is not a chat turn, a reply or a frame: %.60s",
                                index, i, text));
            }
        }
        if (steps.isEmpty()
                || !(steps.get(steps.size() - 1) instanceof Message m && m.answer())) {
            throw new IllegalArgumentException(
                    String.format("sample %d does not end with a user turn to answer", index));
        }
        return steps;
    }

    /**
     * Reads every sample of a JSONL file, gzipped when its name ends in {@code .gz} (as the long
     * sessions ship), failing with the line number on a malformed line.
     */
    public static List<EvalSample> read(Path file) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        List<EvalSample> samples = new ArrayList<>();
        try (BufferedReader in = open(file)) {
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

    private static BufferedReader open(Path file) throws IOException {
        if (!file.getFileName().toString().endsWith(".gz")) {
            return Files.newBufferedReader(file);
        }
        return new BufferedReader(new InputStreamReader(
                new GZIPInputStream(Files.newInputStream(file), 1 << 16), StandardCharsets.UTF_8));
    }
}
