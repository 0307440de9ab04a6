package io.kvstream.runtime.cpu;

import io.kvstream.kv.AttentionObserver;
import io.kvstream.kv.KvCache;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import static org.apache.flink.util.Preconditions.checkArgument;

/**
 * Causal attention for a block of queries that share a KV head, one query (a token's head) per
 * vector lane: a few consecutive tokens of one sequence times the query heads of that KV head.
 *
 * <p>Why lanes of queries: attending one query at a time took a dot product per key, each ending
 * in a sum across lanes, and a pass of four-vector sums per value row. With a query per lane, a
 * key's score for every query of the block is one chain of {@code headDim} FMAs against the
 * key's broadcast elements, and {@link #KEYS} keys at once keep the FMA pipes full; the softmax
 * runs down the lanes; and a value row, loaded once, serves four queries at a time. A 128-token
 * prefill of synth 1B (Q8_0, two threads), attention's share timed per phase: 137 against 60 ms
 * over five prefills on Java 17, 124 against 64 on Java 25, from 4% of the prefill to 2%
 * (docs/benchmarks.md, twelfth stop).
 *
 * <p>Each query's arithmetic is its own, whatever shares its block: its score for key {@code j}
 * is {@code (sum over d of q[d] * k[j][d]) * scale} by FMAs in order of {@code d}; its softmax
 * takes the maximum, {@link VectorExp}'s exponentials, and a sum in order of {@code j}; its output
 * adds the value rows in order of {@code j}. Keys past a query's own token (later tokens of the
 * block) get weight zero, which adds exact zeros. So a token gets the same bits in any batch,
 * any prefill chunking, and decode.
 */
final class LaneAttention {

    private static final VectorSpecies<Float> F = VectorMath.F;
    /** Queries of a block: one per lane. */
    static final int LANES = F.length();
    /** Keys scored at once: eight chains of FMAs, the pipes' latency times their width. */
    private static final int KEYS = 8;

    private final int headDim;
    private final float scale;
    /** Per worker: the block's queries, element {@code d} of lane {@code i} at {@code d * LANES + i}. */
    private final float[][] queries;
    /** Per worker: scores, then weights, key {@code j} of lane {@code i} at {@code j * LANES + i}. */
    private final float[][] weights;
    /** Per worker: the lanes' maxima and sums. */
    private final float[][] lanes;
    /** Per worker: one query's weights in a row, for an {@link AttentionObserver}. */
    private final float[][] rows;

    LaneAttention(int headDim, float scale, int threads) {
        checkArgument(headDim > 0, "head dimension must be positive, got %s", headDim);
        this.headDim = headDim;
        this.scale = scale;
        this.queries = new float[threads][headDim * LANES];
        this.weights = new float[threads][0];
        this.lanes = new float[threads][2 * LANES];
        this.rows = new float[threads][0];
    }

    /**
     * Attends {@code tokens} consecutive tokens of one sequence, rows {@code row .. row + tokens
     * - 1} of {@code q} (indices {@code index ..} within their step of {@code stepTokens}), with
     * query heads {@code head .. head + heads - 1} of {@code kvHead}: each query's output to
     * {@code out} at its place in {@code q}.
     *
     * @param tokens times {@code heads} at most {@link #LANES}
     */
    void attend(int worker, KvCache cache, int layer, int kvHead, float[] q, int qDim, float[] out,
                int row, int tokens, int index, int stepTokens, int head, int heads) {
        int used = tokens * heads;
        // Not checkArgument: its varargs allocate at every call, and this runs per block and layer.
        if (used <= 0 || used > LANES) {
            throw new IllegalArgumentException(
                    String.format("%d tokens x %d heads do not fit %d lanes", tokens, heads, LANES));
        }
        float[] qt = queries[worker];
        for (int i = 0; i < LANES; i++) {
            if (i < used) {
                int qo = queryOffset(row, head, heads, qDim, i);
                for (int d = 0; d < headDim; d++) {
                    qt[d * LANES + i] = q[qo + d];
                }
            } else {
                for (int d = 0; d < headDim; d++) {
                    qt[d * LANES + i] = 0f;
                }
            }
        }
        int retrieved = cache.retrievedLength(layer, kvHead);
        // Held slots before the block's first token: the cache's, then the step's earlier tokens.
        int before = cache.length(layer, kvHead) + index;
        // The block's last token sees the most keys; earlier tokens' later keys are masked below.
        int all = retrieved + before + tokens;
        float[] p = atLeast(weights, worker, all * LANES);
        if (retrieved > 0) {
            scores(qt, cache.retrievedKeys(layer, kvHead), retrieved, p, 0);
        }
        scores(qt, cache.keys(layer, kvHead), before + tokens, p, retrieved * LANES);
        for (int i = 0; i < used; i++) {
            int from = retrieved + before + i / heads + 1;
            for (int j = from; j < all; j++) {
                p[j * LANES + i] = Float.NEGATIVE_INFINITY;
            }
        }
        // A turn that attends over what it named in memory skips the window's older slots.
        int maskedTo = Math.min(cache.maskedTo(layer, kvHead), before + tokens);
        for (int j = retrieved + cache.maskedFrom(layer, kvHead); j < retrieved + maskedTo; j++) {
            for (int i = 0; i < LANES; i++) {
                p[j * LANES + i] = Float.NEGATIVE_INFINITY;
            }
        }
        softmax(p, all, lanes[worker]);
        AttentionObserver observer = cache.attentionObserver();
        if (observer != null) {
            observe(observer, worker, layer, kvHead, p, all, retrieved, before, index, stepTokens, head, heads, used);
        }
        // Four lanes per pass over the values; a short last pass repeats its last lane.
        int last = used - 1;
        for (int i = 0; i < used; i += 4) {
            int i1 = Math.min(i + 1, last);
            int i2 = Math.min(i + 2, last);
            int i3 = Math.min(i + 3, last);
            int o0 = queryOffset(row, head, heads, qDim, i);
            int o1 = queryOffset(row, head, heads, qDim, i1);
            int o2 = queryOffset(row, head, heads, qDim, i2);
            int o3 = queryOffset(row, head, heads, qDim, i3);
            if (retrieved > 0) {
                valueSums(p, 0, retrieved, i, i1, i2, i3, cache.retrievedValues(layer, kvHead), out, o0, o1, o2, o3, false);
            }
            valueSums(p, retrieved, before + tokens, i, i1, i2, i3, cache.values(layer, kvHead), out, o0, o1, o2, o3, retrieved > 0);
        }
    }

    /** Where lane {@code i}'s query (token {@code row + i / heads}, head {@code head + i % heads}) sits in {@code q}. */
    private int queryOffset(int row, int head, int heads, int qDim, int i) {
        return (row + i / heads) * qDim + (head + i % heads) * headDim;
    }

    /** The worker's array, grown to hold at least {@code n} (doubling, so that growth is rare). */
    private static float[] atLeast(float[][] perWorker, int worker, int n) {
        float[] a = perWorker[worker];
        if (a.length < n) {
            a = new float[Math.max(n, a.length * 2)];
            perWorker[worker] = a;
        }
        return a;
    }

    /** Lane {@code i}'s score for key {@code j} of {@code keys} to {@code p[po + j * LANES + i]}. */
    private void scores(float[] qt, float[] keys, int n, float[] p, int po) {
        int hd = headDim;
        int j = 0;
        for (; j + KEYS <= n; j += KEYS) {
            // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
            FloatVector zero = FloatVector.zero(F);
            FloatVector a0 = zero;
            FloatVector a1 = zero;
            FloatVector a2 = zero;
            FloatVector a3 = zero;
            FloatVector a4 = zero;
            FloatVector a5 = zero;
            FloatVector a6 = zero;
            FloatVector a7 = zero;
            int k = j * hd;
            for (int d = 0; d < hd; d++) {
                FloatVector qv = FloatVector.fromArray(F, qt, d * LANES);
                a0 = qv.fma(FloatVector.broadcast(F, keys[k + d]), a0);
                a1 = qv.fma(FloatVector.broadcast(F, keys[k + hd + d]), a1);
                a2 = qv.fma(FloatVector.broadcast(F, keys[k + 2 * hd + d]), a2);
                a3 = qv.fma(FloatVector.broadcast(F, keys[k + 3 * hd + d]), a3);
                a4 = qv.fma(FloatVector.broadcast(F, keys[k + 4 * hd + d]), a4);
                a5 = qv.fma(FloatVector.broadcast(F, keys[k + 5 * hd + d]), a5);
                a6 = qv.fma(FloatVector.broadcast(F, keys[k + 6 * hd + d]), a6);
                a7 = qv.fma(FloatVector.broadcast(F, keys[k + 7 * hd + d]), a7);
            }
            int o = po + j * LANES;
            a0.mul(scale).intoArray(p, o);
            a1.mul(scale).intoArray(p, o + LANES);
            a2.mul(scale).intoArray(p, o + 2 * LANES);
            a3.mul(scale).intoArray(p, o + 3 * LANES);
            a4.mul(scale).intoArray(p, o + 4 * LANES);
            a5.mul(scale).intoArray(p, o + 5 * LANES);
            a6.mul(scale).intoArray(p, o + 6 * LANES);
            a7.mul(scale).intoArray(p, o + 7 * LANES);
        }
        for (; j < n; j++) {
            FloatVector a = FloatVector.zero(F);
            int k = j * hd;
            for (int d = 0; d < hd; d++) {
                a = FloatVector.fromArray(F, qt, d * LANES).fma(FloatVector.broadcast(F, keys[k + d]), a);
            }
            a.mul(scale).intoArray(p, po + j * LANES);
        }
    }

    /**
     * Each lane's softmax over keys {@code [0, n)}; {@code tmp} holds {@code 2 * LANES}. The
     * maxima, sums and scaling are plain loops across the lanes, which C2 vectorizes itself:
     * running Vector API maxima and sums were compiled into allocating code in some JVMs (up to
     * 10 MB a decode step on Java 25, docs/benchmarks.md, twelfth stop).
     */
    private static void softmax(float[] p, int n, float[] tmp) {
        for (int i = 0; i < LANES; i++) {
            tmp[i] = Float.NEGATIVE_INFINITY;
            tmp[LANES + i] = 0f;
        }
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < LANES; i++) {
                tmp[i] = Math.max(tmp[i], p[j * LANES + i]);
            }
        }
        VectorExp.expInPlace(p, 0, n * LANES, tmp, 0);
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < LANES; i++) {
                tmp[LANES + i] += p[j * LANES + i];
            }
        }
        for (int i = 0; i < LANES; i++) {
            tmp[LANES + i] = 1f / tmp[LANES + i];
        }
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < LANES; i++) {
                p[j * LANES + i] *= tmp[LANES + i];
            }
        }
    }

    private void observe(AttentionObserver observer, int worker, int layer, int kvHead, float[] p, int all,
                         int retrieved, int before, int index, int stepTokens, int head, int heads, int used) {
        float[] r = atLeast(rows, worker, all);
        for (int i = 0; i < used; i++) {
            // Policies that observe do not combine with a memory tier: the region is empty here.
            int slots = before + i / heads + 1;
            for (int j = 0; j < slots; j++) {
                r[j] = p[(retrieved + j) * LANES + i];
            }
            observer.observe(layer, head + i % heads, index + i / heads, stepTokens, r, slots);
        }
    }

    /**
     * {@code out[o + d] (+)= sum over j < n of p[(j0 + j) * LANES + lane] * v[j * headDim + d]}, in
     * order of {@code j}, for lanes {@code i0 .. i3} to {@code o0 .. o3} (a short pass repeats
     * its last lane, offset included); {@code add} starts from {@code out}'s values, else from
     * zero. Four lanes share each value row's loads: 16 FMAs for 4 loads and 4 broadcasts, where
     * two lanes took 8 for 6 (this method's share of a 1024-token prefill of synth 1B, Q8_0, Java
     * 17: 4.2% of the samples with two lanes, 2.4% with four).
     */
    private void valueSums(float[] p, int j0, int n, int i0, int i1, int i2, int i3, float[] v, float[] out,
                           int o0, int o1, int o2, int o3, boolean add) {
        int hd = headDim;
        int d = 0;
        for (; d + 4 * LANES <= hd; d += 4 * LANES) {
            FloatVector x0 = add ? FloatVector.fromArray(F, out, o0 + d) : FloatVector.zero(F);
            FloatVector x1 = add ? FloatVector.fromArray(F, out, o0 + d + LANES) : FloatVector.zero(F);
            FloatVector x2 = add ? FloatVector.fromArray(F, out, o0 + d + 2 * LANES) : FloatVector.zero(F);
            FloatVector x3 = add ? FloatVector.fromArray(F, out, o0 + d + 3 * LANES) : FloatVector.zero(F);
            FloatVector y0 = add ? FloatVector.fromArray(F, out, o1 + d) : FloatVector.zero(F);
            FloatVector y1 = add ? FloatVector.fromArray(F, out, o1 + d + LANES) : FloatVector.zero(F);
            FloatVector y2 = add ? FloatVector.fromArray(F, out, o1 + d + 2 * LANES) : FloatVector.zero(F);
            FloatVector y3 = add ? FloatVector.fromArray(F, out, o1 + d + 3 * LANES) : FloatVector.zero(F);
            FloatVector z0 = add ? FloatVector.fromArray(F, out, o2 + d) : FloatVector.zero(F);
            FloatVector z1 = add ? FloatVector.fromArray(F, out, o2 + d + LANES) : FloatVector.zero(F);
            FloatVector z2 = add ? FloatVector.fromArray(F, out, o2 + d + 2 * LANES) : FloatVector.zero(F);
            FloatVector z3 = add ? FloatVector.fromArray(F, out, o2 + d + 3 * LANES) : FloatVector.zero(F);
            FloatVector u0 = add ? FloatVector.fromArray(F, out, o3 + d) : FloatVector.zero(F);
            FloatVector u1 = add ? FloatVector.fromArray(F, out, o3 + d + LANES) : FloatVector.zero(F);
            FloatVector u2 = add ? FloatVector.fromArray(F, out, o3 + d + 2 * LANES) : FloatVector.zero(F);
            FloatVector u3 = add ? FloatVector.fromArray(F, out, o3 + d + 3 * LANES) : FloatVector.zero(F);
            for (int j = 0; j < n; j++) {
                int vr = j * hd + d;
                FloatVector v0 = FloatVector.fromArray(F, v, vr);
                FloatVector v1 = FloatVector.fromArray(F, v, vr + LANES);
                FloatVector v2 = FloatVector.fromArray(F, v, vr + 2 * LANES);
                FloatVector v3 = FloatVector.fromArray(F, v, vr + 3 * LANES);
                int pj = (j0 + j) * LANES;
                FloatVector w = FloatVector.broadcast(F, p[pj + i0]);
                x0 = v0.fma(w, x0);
                x1 = v1.fma(w, x1);
                x2 = v2.fma(w, x2);
                x3 = v3.fma(w, x3);
                w = FloatVector.broadcast(F, p[pj + i1]);
                y0 = v0.fma(w, y0);
                y1 = v1.fma(w, y1);
                y2 = v2.fma(w, y2);
                y3 = v3.fma(w, y3);
                w = FloatVector.broadcast(F, p[pj + i2]);
                z0 = v0.fma(w, z0);
                z1 = v1.fma(w, z1);
                z2 = v2.fma(w, z2);
                z3 = v3.fma(w, z3);
                w = FloatVector.broadcast(F, p[pj + i3]);
                u0 = v0.fma(w, u0);
                u1 = v1.fma(w, u1);
                u2 = v2.fma(w, u2);
                u3 = v3.fma(w, u3);
            }
            // A short pass's repeated lanes share the last lane's offset and compute its values;
            // stored from the fourth lane down, each offset's last store is its own lane's.
            u0.intoArray(out, o3 + d);
            u1.intoArray(out, o3 + d + LANES);
            u2.intoArray(out, o3 + d + 2 * LANES);
            u3.intoArray(out, o3 + d + 3 * LANES);
            z0.intoArray(out, o2 + d);
            z1.intoArray(out, o2 + d + LANES);
            z2.intoArray(out, o2 + d + 2 * LANES);
            z3.intoArray(out, o2 + d + 3 * LANES);
            y0.intoArray(out, o1 + d);
            y1.intoArray(out, o1 + d + LANES);
            y2.intoArray(out, o1 + d + 2 * LANES);
            y3.intoArray(out, o1 + d + 3 * LANES);
            x0.intoArray(out, o0 + d);
            x1.intoArray(out, o0 + d + LANES);
            x2.intoArray(out, o0 + d + 2 * LANES);
            x3.intoArray(out, o0 + d + 3 * LANES);
        }
        for (; d + LANES <= hd; d += LANES) {
            FloatVector x0 = add ? FloatVector.fromArray(F, out, o0 + d) : FloatVector.zero(F);
            FloatVector y0 = add ? FloatVector.fromArray(F, out, o1 + d) : FloatVector.zero(F);
            FloatVector z0 = add ? FloatVector.fromArray(F, out, o2 + d) : FloatVector.zero(F);
            FloatVector u0 = add ? FloatVector.fromArray(F, out, o3 + d) : FloatVector.zero(F);
            for (int j = 0; j < n; j++) {
                FloatVector v0 = FloatVector.fromArray(F, v, j * hd + d);
                int pj = (j0 + j) * LANES;
                x0 = v0.fma(FloatVector.broadcast(F, p[pj + i0]), x0);
                y0 = v0.fma(FloatVector.broadcast(F, p[pj + i1]), y0);
                z0 = v0.fma(FloatVector.broadcast(F, p[pj + i2]), z0);
                u0 = v0.fma(FloatVector.broadcast(F, p[pj + i3]), u0);
            }
            u0.intoArray(out, o3 + d);
            z0.intoArray(out, o2 + d);
            y0.intoArray(out, o1 + d);
            x0.intoArray(out, o0 + d);
        }
        for (; d < hd; d++) {
            float x = add ? out[o0 + d] : 0f;
            float y = add ? out[o1 + d] : 0f;
            float z = add ? out[o2 + d] : 0f;
            float u = add ? out[o3 + d] : 0f;
            for (int j = 0; j < n; j++) {
                float vj = v[j * hd + d];
                int pj = (j0 + j) * LANES;
                x = Math.fma(vj, p[pj + i0], x);
                y = Math.fma(vj, p[pj + i1], y);
                z = Math.fma(vj, p[pj + i2], z);
                u = Math.fma(vj, p[pj + i3], u);
            }
            out[o3 + d] = u;
            out[o2 + d] = z;
            out[o1 + d] = y;
            out[o0 + d] = x;
        }
    }
}
