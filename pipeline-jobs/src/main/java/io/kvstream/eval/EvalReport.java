package io.kvstream.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * How an {@link EvalResult} is printed and written, shared by offline {@code eval} and the
 * pipeline's {@code replay} so that their outputs can be compared line by line.
 */
public final class EvalReport {

    private EvalReport() {}

    /** Accuracy per task, agreement with the reference, and the run's figures. */
    public static void print(EvalResult result, PrintStream out) {
        for (Map.Entry<String, Double> e : result.accuracy().entrySet()) {
            out.printf("%-8s accuracy %.3f%n", e.getKey(), e.getValue());
        }
        int withReference = referenceCount(result);
        if (withReference > 0) {
            out.printf("agreement with reference_answer: %d/%d%n", result.agreeingWithReference(), withReference);
        }
        if (result.patches() > 0 && result.patchesDropped() >= 0) {
            out.printf("video patches dropped: %d/%d (%.1f%%)%n", result.patchesDropped(), result.patches(),
                    100.0 * result.patchesDropped() / result.patches());
        }
        // A replay through the pipeline cannot see the caches' sizes: NaN leaves them out.
        String kv = Double.isNaN(result.kvBytesPerToken())
                ? "" : String.format("kv bytes/token %.1f, ", result.kvBytesPerToken());
        if (!Double.isNaN(result.fp16BytesPerToken())) {
            kv += String.format("%.2fx smaller than fp16 (%.1f), ",
                    result.fp16BytesPerToken() / result.kvBytesPerToken(), result.fp16BytesPerToken());
        }
        out.printf("%s%d prompt tokens, %.1f s (%.0f prompt tokens/s)%n",
                kv, result.promptTokens(), result.seconds(), result.promptTokens() / result.seconds());
        CacheFigures c = result.cache();
        if (c != null) {
            out.printf("working set: at most %d slots in one step; %.0f bytes stored per session%n",
                    c.maxAttended(), c.workingSetBytes());
            if (c.retrievals() > 0 || c.memoryBytes() > 0) {
                out.printf("memory: %.0f bytes per session (most %d), %d blocks dropped at the limit;"
                                + " %d retrievals, %.1f ms and %.0f KB read each%n",
                        c.memoryBytes(), c.memoryBytesMax(), c.memoryBlocksDropped(), c.retrievals(),
                        1e3 * c.retrievalSeconds() / Math.max(1, c.retrievals()),
                        c.retrievalBytesRead() / 1024.0 / Math.max(1, c.retrievals()));
            }
        }
        if (result.failed() > 0) {
            out.printf("%d samples failed (see the log)%n", result.failed());
        }
    }

    private static int referenceCount(EvalResult result) {
        int n = 0;
        for (EvalResult.Answer a : result.answers()) {
            n += a.sample().referenceAnswer() != null ? 1 : 0;
        }
        return n;
    }

    /** The summary {@code --json} writes; callers may add their own fields to it. */
    public static ObjectNode summary(ObjectMapper mapper, String model, String kv, EvalResult result) {
        ObjectNode root = mapper.createObjectNode();
        root.put("model", model);
        root.put("kv", kv);
        root.put("samples", result.answers().size());
        ObjectNode acc = root.putObject("accuracy");
        result.accuracy().forEach(acc::put);
        // Fresh sets (bench/make-eval.py) carry no reference answers: no agreement to count.
        if (referenceCount(result) > 0) {
            root.put("agree_reference", result.agreeingWithReference());
        }
        if (!Double.isNaN(result.kvBytesPerToken())) {
            root.put("kv_bytes_per_token", result.kvBytesPerToken());
        }
        if (!Double.isNaN(result.fp16BytesPerToken())) {
            root.put("fp16_bytes_per_token", result.fp16BytesPerToken());
        }
        root.put("prompt_tokens", result.promptTokens());
        if (result.patches() > 0) {
            root.put("patches", result.patches());
            if (result.patchesDropped() >= 0) {
                root.put("patches_dropped", result.patchesDropped());
            }
        }
        root.put("seconds", result.seconds());
        CacheFigures c = result.cache();
        if (c != null) {
            root.put("max_attended_slots", c.maxAttended());
            root.put("working_set_bytes_per_session", c.workingSetBytes());
            root.put("memory_bytes_per_session", c.memoryBytes());
            root.put("memory_bytes_max", c.memoryBytesMax());
            root.put("memory_blocks_dropped", c.memoryBlocksDropped());
            root.put("retrievals", c.retrievals());
            root.put("retrieval_seconds", c.retrievalSeconds());
            root.put("retrieval_bytes_read", c.retrievalBytesRead());
        }
        return root;
    }

    /** One JSON line per sample, in sample order: what {@code --answers} writes. */
    public static void writeAnswers(ObjectMapper mapper, EvalResult result, Path file) throws IOException {
        try (BufferedWriter out = Files.newBufferedWriter(file)) {
            for (EvalResult.Answer a : result.answers()) {
                ObjectNode line = mapper.createObjectNode();
                line.put("index", a.sample().index());
                line.put("task", a.sample().task());
                line.put("answer", a.sample().answer());
                line.put("output", a.output() == null ? null : a.output().strip());
                if (a.error() != null) {
                    line.put("error", a.error());
                }
                out.write(mapper.writeValueAsString(line));
                out.newLine();
            }
        }
    }
}
