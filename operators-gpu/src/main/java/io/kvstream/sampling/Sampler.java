package io.kvstream.sampling;

import java.util.Arrays;

/**
 * Picks a token from a row of logits. Draws are a pure function of the request's seed and the
 * token's index, so nothing about the sampler needs to be checkpointed for a request to replay.
 * Not thread-safe: it keeps scratch space; use one per thread.
 */
public final class Sampler {

    /** SplittableRandom's increment, which its first draw adds to the seed. */
    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    private float[] work = new float[0];
    private int[] order = new int[0];
    private long[] keys = new long[0];
    private boolean[] seen = new boolean[0];

    /**
     * @param logits the row, at {@code logits[offset .. offset + vocab)}; left unchanged
     * @param history tokens already in the sequence ({@code history[0 .. historyLength)}), for the
     *     repetition penalty
     * @param index index of the token being drawn within the request, which fixes the draw
     */
    public int sample(
            float[] logits, int offset, int vocab, SamplingParams params,
            int[] history, int historyLength, long index) {
        float[] w = scratch(vocab);
        System.arraycopy(logits, offset, w, 0, vocab);
        if (params.repetitionPenalty() != 1f) {
            penalize(w, vocab, params.repetitionPenalty(), history, historyLength);
        }
        if (params.greedy()) {
            return argmax(w, 0, vocab);
        }
        float invT = 1f / params.temperature();
        for (int i = 0; i < vocab; i++) {
            w[i] *= invT;
        }
        int kept = sortDescending(w, vocab, params.topK() > 0 ? Math.min(params.topK(), vocab) : vocab);
        // Softmax over the kept candidates, most likely first.
        float max = w[order[0]];
        double sum = 0;
        for (int i = 0; i < kept; i++) {
            sum += Math.exp(w[order[i]] - max);
        }
        if (params.topP() < 1f) {
            double cumulative = 0;
            int cut = kept;
            for (int i = 0; i < kept; i++) {
                cumulative += Math.exp(w[order[i]] - max) / sum;
                if (cumulative >= params.topP()) {
                    cut = i + 1;
                    break;
                }
            }
            kept = cut;
            sum = 0;
            for (int i = 0; i < kept; i++) {
                sum += Math.exp(w[order[i]] - max);
            }
        }
        double u = uniform(mix(params.seed(), index)) * sum;
        double cumulative = 0;
        for (int i = 0; i < kept; i++) {
            cumulative += Math.exp(w[order[i]] - max);
            if (u < cumulative) {
                return order[i];
            }
        }
        return order[kept - 1];
    }

    /** Index of the largest value; the first one on ties, as torch.argmax. */
    public static int argmax(float[] x, int offset, int n) {
        int best = 0;
        float bestValue = x[offset];
        for (int i = 1; i < n; i++) {
            if (x[offset + i] > bestValue) {
                bestValue = x[offset + i];
                best = i;
            }
        }
        return best;
    }

    private void penalize(float[] w, int vocab, float penalty, int[] history, int n) {
        // Each distinct token is penalized once, however often it occurred, as in transformers.
        boolean[] done = seen(vocab);
        for (int i = 0; i < n; i++) {
            int id = history[i];
            if (id >= 0 && id < vocab && !done[id]) {
                done[id] = true;
                w[id] = w[id] > 0 ? w[id] / penalty : w[id] * penalty;
            }
        }
        for (int i = 0; i < n; i++) {
            int id = history[i];
            if (id >= 0 && id < vocab) {
                done[id] = false;
            }
        }
    }

    /** Puts the indices of the {@code k} largest values, largest first, into {@code order}. */
    private int sortDescending(float[] w, int vocab, int k) {
        if (order.length < vocab) {
            order = new int[vocab];
        }
        if (k == vocab) {
            if (keys.length < vocab) {
                keys = new long[vocab];
            }
            for (int i = 0; i < vocab; i++) {
                keys[i] = ((long) descendingKey(w[i]) << 32) | i;
            }
            Arrays.sort(keys, 0, vocab);
            for (int i = 0; i < vocab; i++) {
                order[i] = (int) keys[i];
            }
            return vocab;
        }
        // Top-k with small k: insertion into a sorted prefix beats sorting the vocabulary.
        int size = 0;
        for (int i = 0; i < vocab; i++) {
            float value = w[i];
            if (size == k && value <= w[order[k - 1]]) {
                continue;
            }
            int pos = size < k ? size++ : k - 1;
            while (pos > 0 && w[order[pos - 1]] < value) {
                order[pos] = order[pos - 1];
                pos--;
            }
            order[pos] = i;
        }
        return size;
    }

    /** An int that sorts ascending when the floats sort descending (NaN aside). */
    private static int descendingKey(float f) {
        int bits = Float.floatToIntBits(f);
        // Negative floats order backwards as ints: flipping their magnitude bits fixes that.
        int ascending = bits >= 0 ? bits : bits ^ 0x7FFFFFFF;
        return ~ascending;
    }

    private boolean[] seen(int vocab) {
        if (seen.length < vocab) {
            seen = new boolean[vocab];
        }
        return seen;
    }

    private float[] scratch(int vocab) {
        if (work.length < vocab) {
            work = new float[vocab];
        }
        return work;
    }

    /**
     * {@code new SplittableRandom(seed).nextDouble()}, computed without the object: the draw
     * runs for every sampled token, and the same numbers keep stored requests replaying alike.
     */
    static double uniform(long seed) {
        long z = seed + GOLDEN_GAMMA;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 11) * 0x1.0p-53;
    }

    private static long mix(long seed, long index) {
        long z = seed * 0x9E3779B97F4A7C15L + index;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
