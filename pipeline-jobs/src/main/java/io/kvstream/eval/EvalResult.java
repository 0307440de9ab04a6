package io.kvstream.eval;

import javax.annotation.Nullable;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What an eval run produced: each sample's output, and the figures computed from them.
 *
 * @param kvBytesPerToken bytes each sample's cache stores at its end (encoded blocks and
 *     metadata), summed over samples, over prompt tokens
 * @param fp16BytesPerToken the same for an {@code fp16} cache holding the same tokens, the basis
 *     of the compression ratio; NaN where not known (eviction, or a replay through the pipeline)
 * @param cache the caches' working set and memory figures; null when not known (a replay)
 */
public record EvalResult(
        List<Answer> answers,
        long promptTokens,
        long patches,
        long patchesDropped,
        double kvBytesPerToken,
        double fp16BytesPerToken,
        double seconds,
        @Nullable CacheFigures cache) {

    /** A result without cache figures, as a replay through the pipeline has. */
    public EvalResult(
            List<Answer> answers, long promptTokens, long patches, long patchesDropped, double kvBytesPerToken,
            double fp16BytesPerToken, double seconds) {
        this(answers, promptTokens, patches, patchesDropped, kvBytesPerToken, fp16BytesPerToken, seconds, null);
    }

    /** One sample's output; {@code output} is null only if the sample never finished. */
    public record Answer(EvalSample sample, @Nullable String output, @Nullable String error) {

        public boolean correct() {
            return output != null && output.strip().equals(sample.answer());
        }

        public boolean agreesWithReference() {
            return output != null
                    && sample.referenceAnswer() != null
                    && output.strip().equals(sample.referenceAnswer().strip());
        }
    }

    /** Exact-match accuracy per task, tasks in name order. */
    public Map<String, Double> accuracy() {
        Map<String, int[]> counts = new TreeMap<>();
        for (Answer a : answers) {
            int[] c = counts.computeIfAbsent(a.sample().task(), t -> new int[2]);
            c[0] += a.correct() ? 1 : 0;
            c[1]++;
        }
        Map<String, Double> out = new TreeMap<>();
        counts.forEach((task, c) -> out.put(task, (double) c[0] / c[1]));
        return out;
    }

    /** Samples whose output equals Hugging Face's reference answer. */
    public int agreeingWithReference() {
        int n = 0;
        for (Answer a : answers) {
            n += a.agreesWithReference() ? 1 : 0;
        }
        return n;
    }

    public int failed() {
        int n = 0;
        for (Answer a : answers) {
            n += a.error() != null ? 1 : 0;
        }
        return n;
    }
}
