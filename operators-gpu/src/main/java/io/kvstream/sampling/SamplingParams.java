package io.kvstream.sampling;

/**
 * How one request picks its next tokens.
 *
 * @param temperature 0 for greedy (argmax); otherwise logits are divided by it
 * @param topK keep only the k most likely tokens (0: all)
 * @param topP keep the smallest set of most likely tokens whose probability reaches p (1: all)
 * @param repetitionPenalty CTRL-style penalty on tokens already in the sequence (1: none)
 * @param seed the request's seed: together with the token's index it fixes every draw, so a
 *     request replays to the same tokens wherever and in whatever batch it runs
 */
public record SamplingParams(
        float temperature, int topK, float topP, float repetitionPenalty, long seed) {

    public static final SamplingParams GREEDY = new SamplingParams(0f, 0, 1f, 1f, 0L);

    public SamplingParams {
        if (!(temperature >= 0f) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        }
        if (!(topP > 0f && topP <= 1f)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        if (!(repetitionPenalty > 0f) || Float.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException(
                    "repetition penalty must be > 0, got " + repetitionPenalty);
        }
    }

    public boolean greedy() {
        return temperature == 0f;
    }
}
