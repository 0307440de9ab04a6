package io.kvstream.runtime.cpu;

import io.kvstream.kv.AttentionObserver;
import io.kvstream.kv.DenseKvCache;
import io.kvstream.kv.KvCache;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Attention with a query per lane, on a real {@link DenseKvCache}: each query's output is its own
 * (the same bits alone or in any block), causal, and the attention a double-precision reference
 * computes.
 */
class LaneAttentionTest {

    private static final int LANES = LaneAttention.LANES;

    /**
     * A step of {@code tokens} new tokens after {@code held} cached ones, {@code groupSize} query
     * heads per KV head: every block shape the backend forms gives each query the bits it gets
     * alone, and those are within float rounding of softmax attention in doubles.
     */
    @ParameterizedTest
    @CsvSource({"64, 4, 0, 13", "64, 4, 37, 9", "40, 7, 5, 6", "64, 1, 20, 33", "96, 2, 3, 17"})
    void eachQueryGetsItsOwnBitsInAnyBlockAndMatchesTheReference(int headDim, int groupSize, int held, int tokens) {
        int kvHeads = 2;
        int heads = kvHeads * groupSize;
        int qDim = heads * headDim;
        Random random = new Random(headDim * 31 + held);
        DenseKvCache cache = new DenseKvCache(1, kvHeads, headDim, 1024);
        cache.reserve(held);
        fill(cache, random, held);
        cache.commit(held);
        cache.reserve(tokens);
        // The step's own keys and values sit right after the held slots, as the backend writes them.
        fill(cache, random, held + tokens);
        float[] q = new float[tokens * qDim];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) random.nextGaussian();
        }
        float scale = (float) (1 / Math.sqrt(headDim));
        LaneAttention attention = new LaneAttention(headDim, scale, 1);

        float[] alone = new float[q.length];
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                attention.attend(0, cache, 0, h / groupSize, q, qDim, alone, t, 1, t, tokens, h, 1);
            }
        }
        int blockHeads = Math.min(groupSize, LANES);
        int blockTokens = LANES / blockHeads;
        float[] blocked = new float[q.length];
        for (int t = 0; t < tokens; t += blockTokens) {
            int n = Math.min(blockTokens, tokens - t);
            for (int h = 0; h < heads; h += blockHeads) {
                attention.attend(0, cache, 0, h / groupSize, q, qDim, blocked, t, n, t, tokens, h, blockHeads);
            }
        }
        assertThat(blocked).as("blocks of %s tokens x %s heads against one query at a time", blockTokens, blockHeads)
                .containsExactly(alone);

        double worst = 0;
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                double[] expected = reference(cache, h / groupSize, q, (t * heads + h) * headDim, held + t + 1, scale);
                for (int d = 0; d < headDim; d++) {
                    worst = Math.max(worst, Math.abs(expected[d] - alone[(t * heads + h) * headDim + d]));
                }
            }
        }
        System.out.printf("lane attention, head %d, group %d: largest difference from doubles %.2e%n", headDim, groupSize, worst);
        assertThat(worst).as("largest difference from softmax attention in doubles").isLessThan(2e-6);
    }

    /**
     * A cache with a retrieved region (a memory tier's) and masked held slots, and a policy that
     * observes the weights: each query attends over the region, then its held slots but the
     * masked ones, and the observer gets its weights over the held slots.
     */
    @Test
    void retrievedRegionMaskedSlotsAndObservedWeightsFollowTheCache() {
        int headDim = 64;
        int groupSize = 4;
        int held = 21;
        int tokens = 7;
        int heads = 2 * groupSize;
        int qDim = heads * headDim;
        Random random = new Random(3);
        DenseKvCache dense = new DenseKvCache(1, 2, headDim, 1024);
        dense.reserve(held);
        fill(dense, random, held);
        dense.commit(held);
        dense.reserve(tokens);
        fill(dense, random, held + tokens);
        float[][] regionKeys = new float[2][11 * headDim];
        float[][] regionValues = new float[2][11 * headDim];
        for (int h = 0; h < 2; h++) {
            for (int i = 0; i < regionKeys[h].length; i++) {
                regionKeys[h][i] = (float) random.nextGaussian();
                regionValues[h][i] = (float) random.nextGaussian();
            }
        }
        Map<String, float[]> observed = new HashMap<>();
        AttentionObserver observer = (layer, head, token, stepTokens, weights, slots) -> {
            assertThat(stepTokens).isEqualTo(tokens);
            observed.put(head + "/" + token, Arrays.copyOf(weights, slots));
        };
        float[] q = new float[tokens * qDim];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) random.nextGaussian();
        }
        float scale = (float) (1 / Math.sqrt(headDim));
        LaneAttention attention = new LaneAttention(headDim, scale, 1);

        // The region and the mask, then the observer (policies that observe have no region).
        KvCache withRegion = new FixedRegionCache(dense, regionKeys, regionValues, 3, 9, null);
        float[] alone = new float[q.length];
        float[] blocked = new float[q.length];
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                attention.attend(0, withRegion, 0, h / groupSize, q, qDim, alone, t, 1, t, tokens, h, 1);
            }
        }
        for (int t = 0; t < tokens; t += 4) {
            for (int h = 0; h < heads; h += groupSize) {
                attention.attend(0, withRegion, 0, h / groupSize, q, qDim, blocked, t, Math.min(4, tokens - t), t, tokens, h, groupSize);
            }
        }
        assertThat(blocked).containsExactly(alone);
        double worst = 0;
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int kvHead = h / groupSize;
                float[] keys = concat(regionKeys[kvHead], 11, dense.keys(0, kvHead), held + t + 1, headDim, 11 + 3, 11 + 9);
                float[] values = concat(regionValues[kvHead], 11, dense.values(0, kvHead), held + t + 1, headDim, 11 + 3, 11 + 9);
                double[] expected = attend(keys, values, keys.length / headDim, headDim, q, (t * heads + h) * headDim, scale)[0];
                for (int d = 0; d < headDim; d++) {
                    worst = Math.max(worst, Math.abs(expected[d] - alone[(t * heads + h) * headDim + d]));
                }
            }
        }
        assertThat(worst).as("largest difference from the region, then the unmasked slots, in doubles").isLessThan(2e-6);

        KvCache observedCache = new FixedRegionCache(dense, null, null, 0, 0, observer);
        for (int t = 0; t < tokens; t += 4) {
            for (int h = 0; h < heads; h += groupSize) {
                attention.attend(0, observedCache, 0, h / groupSize, q, qDim, blocked, t, Math.min(4, tokens - t), t, tokens, h, groupSize);
            }
        }
        assertThat(observed).hasSize(tokens * heads);
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int kvHead = h / groupSize;
                double[] expected = attend(dense.keys(0, kvHead), dense.values(0, kvHead), held + t + 1, headDim, q,
                        (t * heads + h) * headDim, scale)[1];
                float[] weights = observed.get(h + "/" + t);
                assertThat(weights).as("head %s, token %s", h, t).hasSize(held + t + 1);
                for (int j = 0; j < weights.length; j++) {
                    assertThat((double) weights[j]).isCloseTo(expected[j], within(1e-6));
                }
            }
        }
    }

    /** The region's {@code n} rows, then {@code slots} held rows, leaving out rows {@code [maskFrom, maskTo)} of the whole. */
    private static float[] concat(float[] region, int n, float[] held, int slots, int headDim, int maskFrom, int maskTo) {
        float[] all = new float[(n + slots) * headDim];
        System.arraycopy(region, 0, all, 0, n * headDim);
        System.arraycopy(held, 0, all, n * headDim, slots * headDim);
        float[] kept = new float[(n + slots - (maskTo - maskFrom)) * headDim];
        System.arraycopy(all, 0, kept, 0, maskFrom * headDim);
        System.arraycopy(all, maskTo * headDim, kept, maskFrom * headDim, (n + slots - maskTo) * headDim);
        return kept;
    }

    private static void fill(DenseKvCache cache, Random random, int slots) {
        for (int h = 0; h < cache.kvHeads(); h++) {
            float[] k = cache.keys(0, h);
            float[] v = cache.values(0, h);
            for (int i = cache.length(0, h) * cache.headDim(); i < slots * cache.headDim(); i++) {
                k[i] = (float) random.nextGaussian();
                v[i] = (float) random.nextGaussian();
            }
        }
    }

    /** One query over slots {@code [0, slots)}: scores, softmax and the weighted values in doubles. */
    private static double[] reference(DenseKvCache cache, int kvHead, float[] q, int qo, int slots, float scale) {
        return attend(cache.keys(0, kvHead), cache.values(0, kvHead), slots, cache.headDim(), q, qo, scale)[0];
    }

    /** One query over rows {@code [0, slots)} of {@code k} and {@code v}, in doubles: its output, then its weights. */
    private static double[][] attend(float[] k, float[] v, int slots, int headDim, float[] q, int qo, float scale) {
        double[] w = new double[slots];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < slots; j++) {
            double s = 0;
            for (int d = 0; d < headDim; d++) {
                s += (double) q[qo + d] * k[j * headDim + d];
            }
            w[j] = s * scale;
            max = Math.max(max, w[j]);
        }
        double sum = 0;
        for (int j = 0; j < slots; j++) {
            w[j] = Math.exp(w[j] - max);
            sum += w[j];
        }
        double[] out = new double[headDim];
        for (int j = 0; j < slots; j++) {
            w[j] /= sum;
            for (int d = 0; d < headDim; d++) {
                out[d] += w[j] * v[j * headDim + d];
            }
        }
        return new double[][] {out, w};
    }

    /**
     * A {@link DenseKvCache} with what a memory tier adds to it: a retrieved region per KV head and
     * held slots {@code [maskFrom, maskTo)} masked; or, instead, an eviction policy's observer.
     */
    private static final class FixedRegionCache implements KvCache {
        private final DenseKvCache cache;
        private final float[][] regionKeys;
        private final float[][] regionValues;
        private final int maskFrom;
        private final int maskTo;
        private final AttentionObserver observer;

        FixedRegionCache(DenseKvCache cache, float[][] regionKeys, float[][] regionValues, int maskFrom, int maskTo,
                         AttentionObserver observer) {
            this.cache = cache;
            this.regionKeys = regionKeys;
            this.regionValues = regionValues;
            this.maskFrom = maskFrom;
            this.maskTo = maskTo;
            this.observer = observer;
        }

        @Override public int layers() { return cache.layers(); }
        @Override public int kvHeads() { return cache.kvHeads(); }
        @Override public int headDim() { return cache.headDim(); }
        @Override public int tokens() { return cache.tokens(); }
        @Override public int length(int layer, int kvHead) { return cache.length(layer, kvHead); }
        @Override public int remaining() { return cache.remaining(); }
        @Override public int nextPosition() { return cache.nextPosition(); }
        @Override public void reserve(int tokens) { cache.reserve(tokens); }
        @Override public float[] keys(int layer, int kvHead) { return cache.keys(layer, kvHead); }
        @Override public float[] values(int layer, int kvHead) { return cache.values(layer, kvHead); }
        @Override public void commit(int tokens) { cache.commit(tokens); }
        @Override public void clear() { cache.clear(); }
        @Override public long bytesInMemory() { return cache.bytesInMemory(); }
        @Override public AttentionObserver attentionObserver() { return observer; }
        @Override public boolean retrieves() { return regionKeys != null; }
        @Override public int maskedFrom(int layer, int kvHead) { return maskFrom; }
        @Override public int maskedTo(int layer, int kvHead) { return maskTo; }
        @Override public int retrievedLength(int layer, int kvHead) {
            return regionKeys == null ? 0 : regionKeys[kvHead].length / cache.headDim();
        }
        @Override public float[] retrievedKeys(int layer, int kvHead) { return regionKeys[kvHead]; }
        @Override public float[] retrievedValues(int layer, int kvHead) { return regionValues[kvHead]; }
    }
}
