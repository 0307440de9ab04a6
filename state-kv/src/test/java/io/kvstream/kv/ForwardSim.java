package io.kvstream.kv;

import javax.annotation.Nullable;

import java.util.Random;

/**
 * Plays the forward pass's part against a cache, as CpuBackend does: reserve, write each new
 * token's (rotated) key and value at {@code length + i}, report attention, commit.
 */
public final class ForwardSim {

    /** Supplies attention weights for query {@code token} of a step over {@code slots} slots. */
    public interface Attention {
        void weights(int layer, int queryHead, int token, int slots, float[] out);
    }

    private final KvCache cache;
    private final int heads;
    private final RopeSpec rope;
    private final long seed;
    private int planted = -1;
    private float plantScale = 1f;
    /** Per token, its id, given to the cache with each step as the forward pass gives it. */
    @Nullable private int[] ids;

    public ForwardSim(KvCache cache, int heads, RopeSpec rope, long seed) {
        this.cache = cache;
        this.heads = heads;
        this.rope = rope;
        this.seed = seed;
    }

    /** Makes token {@code t}'s keys {@code scale} times larger than the rest: a fact that stands out. */
    public ForwardSim plant(int t, float scale) {
        this.planted = t;
        this.plantScale = scale;
        return this;
    }

    /** Gives tokens ids, which each step passes to the cache before writing its keys. */
    public ForwardSim withIds(int[] ids) {
        this.ids = ids;
        return this;
    }

    /** The unrotated key of token {@code t} in head {@code lh}: reproducible, with outlier channels. */
    public float[] rawKey(int lh, int t) {
        Random r = new Random(seed * 1_000_003L + lh * 100_003L + t);
        float[] k = new float[cache.headDim()];
        float scale = t == planted ? plantScale : 1f;
        for (int c = 0; c < k.length; c++) {
            k[c] = (float) r.nextGaussian() * (c % 16 == 3 ? 8f : 1f) * scale;
        }
        return k;
    }

    public float[] value(int lh, int t) {
        Random r = new Random(seed * 7_000_003L + lh * 300_007L + t);
        float[] v = new float[cache.headDim()];
        for (int c = 0; c < v.length; c++) {
            v[c] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Key of token {@code t} rotated to {@code position}, in double like {@code Rerotation}. */
    public float[] rotatedKey(int lh, int t, int position) {
        return rotate(rope, rawKey(lh, t), position);
    }

    public static float[] rotate(RopeSpec rope, float[] x, int position) {
        float[] out = x.clone();
        float[] inv = rope.inverseFrequencies();
        int half = x.length / 2;
        for (int i = 0; i < half; i++) {
            double angle = (double) position * inv[i];
            float c = (float) Math.cos(angle);
            float s = (float) Math.sin(angle);
            int a = rope.interleaved() ? 2 * i : i;
            int b = rope.interleaved() ? 2 * i + 1 : i + half;
            out[a] = x[a] * c - x[b] * s;
            out[b] = x[b] * c + x[a] * s;
        }
        return out;
    }

    /** Feeds {@code n} tokens as one step. */
    public void step(int n, @Nullable Attention attention) {
        write(n);
        int kvHeads = cache.kvHeads();
        AttentionObserver observer = cache.attentionObserver();
        if (observer != null && attention != null) {
            for (int l = 0; l < cache.layers(); l++) {
                for (int q = 0; q < heads; q++) {
                    int h = q / (heads / kvHeads);
                    for (int i = 0; i < n; i++) {
                        int slots = cache.length(l, h) + i + 1;
                        float[] w = new float[slots];
                        attention.weights(l, q, i, slots, w);
                        observer.observe(l, q, i, n, w, slots);
                    }
                }
            }
        }
        cache.commit(n);
    }

    /**
     * Writes a step of {@code n} tokens into the cache's slots, as RoPE and the cache write do,
     * without committing it: what the cache holds while the step's layers run.
     */
    public void write(int n) {
        cache.reserve(n);
        int first = cache.tokens();
        if (ids != null) {
            cache.stepTokenIds(java.util.Arrays.copyOfRange(ids, first, first + n), n);
        }
        int position = cache.nextPosition();
        int kvHeads = cache.kvHeads();
        int d = cache.headDim();
        for (int l = 0; l < cache.layers(); l++) {
            for (int h = 0; h < kvHeads; h++) {
                int lh = l * kvHeads + h;
                for (int i = 0; i < n; i++) {
                    int slot = cache.length(l, h) + i;
                    System.arraycopy(rotatedKey(lh, first + i, position + i), 0, cache.keys(l, h), slot * d, d);
                    System.arraycopy(value(lh, first + i), 0, cache.values(l, h), slot * d, d);
                }
            }
        }
    }

    public void feed(int total, int stepSize) {
        for (int fed = 0; fed < total; fed += stepSize) {
            step(Math.min(stepSize, total - fed), null);
        }
    }
}
