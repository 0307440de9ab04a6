package io.kvstream.runtime.cpu;

import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.runtime.Parallel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code out[t][r] = W[r] . x[t]} for every token {@code t} of a step and every row {@code r} of a
 * weight matrix.
 *
 * <p>Three ways, by the size of the step, all giving every output the same bits: small steps
 * (decode) of formats that can widen their blocks in registers skip any expansion (see {@link
 * FloatTensor#dotRows}); large steps (prefill) go through {@link PackedGemm}; the rest expand rows
 * to fp32 a chunk at a time, once per step, and multiply every token of the batch against them
 * while they sit in cache. Either way a step over many sequences reads each weight once.
 */
final class MatMul {

    private static final VectorSpecies<Float> F = VectorMath.F;
    /** Rows expanded together; a multiple of the 4-row kernel. */
    private static final int ROW_CHUNK = 16;
    /**
     * Up to this many tokens, formats with a fused dot product widen each weight in registers
     * for four tokens at a time (measured per core on a 2048-column Q8_0 matrix: 11 G weights/s
     * at one token against 4.7 expanded, 33 against 21 GMAC/s at eight tokens), and the others
     * expand rows for the row-by-row kernels below. Beyond it, {@link PackedGemm} takes the
     * matrices it supports: packing costs more than it gains at 8 tokens and less at 24 (Q4_0,
     * 8192 x 2048, two threads: 5.0 against 3.9 ms at 8, 7.7 against 8.9 ms at 24).
     */
    private static final int SMALL_STEP = 16;
    /** Tokens multiplied against a row chunk before moving on. */
    private static final int TOKEN_BLOCK = 32;

    private final Parallel parallel;
    private final PackedGemm gemm;
    private final float[][] scratch;
    private final Parallel.RangeBody rowsBody = this::rows;
    // The multiply in progress; calls come from one thread, one at a time.
    private FloatTensor w;
    private float[] x;
    private int xStride;
    private int tokens;
    private float[] out;
    private int outStride;

    MatMul(Parallel parallel) {
        this.parallel = parallel;
        this.gemm = new PackedGemm(parallel);
        this.scratch = new float[parallel.threads()][0];
    }

    /**
     * @param x activations, token {@code t} at {@code x[t * xStride .. + w.cols())}
     * @param out results, token {@code t} row {@code r} at {@code out[t * outStride + r]}
     */
    void multiply(FloatTensor w, float[] x, int xStride, int tokens, float[] out, int outStride) {
        if (tokens > SMALL_STEP && PackedGemm.supports(w)) {
            gemm.multiply(w, x, xStride, tokens, out, outStride);
            return;
        }
        this.w = w;
        this.x = x;
        this.xStride = xStride;
        this.tokens = tokens;
        this.out = out;
        this.outStride = outStride;
        parallel.forRange(w.rows(), fused() ? streamChunk(w.rows()) : ROW_CHUNK, rowsBody);
    }

    /** Whether the multiply in progress goes through the format's fused dot product. */
    private boolean fused() {
        return tokens <= SMALL_STEP && w.hasFusedDot();
    }

    /**
     * Rows a thread takes at a time in a fused multiply: two chunks per thread, so that a thread
     * the OS slows down leaves some of its share to the others, yet each chunk is a long run of
     * memory. Chunks of 16 rows alternating between two threads cut the hardware prefetchers'
     * streams short: 14.5 against 18.7 GB/s over Q8_0 matrices of 2048 columns with chunks of
     * 256 rows or more.
     */
    private int streamChunk(int rows) {
        int perThread = rows / (2 * parallel.threads());
        return Math.max(ROW_CHUNK, perThread / ROW_CHUNK * ROW_CHUNK);
    }

    /** Rows {@code [from, to)} of the multiply in progress, against every token. */
    private void rows(int worker, int from, int to) {
        if (fused()) {
            w.dotRows(from, to - from, x, xStride, tokens, out, outStride);
            return;
        }
        int cols = w.cols();
        float[] rowsBuf = scratch(worker, ROW_CHUNK * cols);
        int n = to - from;
        for (int r = 0; r < n; r++) {
            w.dequantizeRow(from + r, rowsBuf, r * cols);
        }
        for (int t0 = 0; t0 < tokens; t0 += TOKEN_BLOCK) {
            int t1 = Math.min(tokens, t0 + TOKEN_BLOCK);
            int r = 0;
            for (; r + 4 <= n; r += 4) {
                kernel4(rowsBuf, r * cols, cols, x, xStride, t0, t1, out, outStride, from + r);
            }
            for (; r < n; r++) {
                for (int t = t0; t < t1; t++) {
                    out[t * outStride + from + r] = VectorMath.dot(rowsBuf, r * cols, x, t * xStride, cols);
                }
            }
        }
    }

    private float[] scratch(int worker, int size) {
        float[] s = scratch[worker];
        if (s.length < size) {
            s = new float[size];
            scratch[worker] = s;
        }
        return s;
    }

    /**
     * Four consecutive rows against tokens {@code [t0, t1)}, two tokens at a time: six loads feed
     * eight FMAs. Each output keeps its own accumulator and order of operations, so a token's
     * result does not depend on which token it is paired with.
     */
    private static void kernel4(
            float[] w, int wo, int cols, float[] x, int xStride, int t0, int t1,
            float[] out, int outStride, int row) {
        int t = t0;
        for (; t + 2 <= t1; t += 2) {
            kernel4x2(w, wo, cols, x, t * xStride, (t + 1) * xStride, out, t * outStride + row,
                    (t + 1) * outStride + row);
        }
        if (t < t1) {
            kernel4x1(w, wo, cols, x, t * xStride, out, t * outStride + row);
        }
    }

    private static void kernel4x2(
            float[] w, int wo, int cols, float[] x, int xa, int xb, float[] out, int oa, int ob) {
        int upper = F.loopBound(cols);
        int w1 = wo + cols;
        int w2 = w1 + cols;
        int w3 = w2 + cols;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F);
        FloatVector b1 = FloatVector.zero(F);
        FloatVector b2 = FloatVector.zero(F);
        FloatVector b3 = FloatVector.zero(F);
        int c = 0;
        for (; c < upper; c += F.length()) {
            FloatVector xv = FloatVector.fromArray(F, x, xa + c);
            FloatVector yv = FloatVector.fromArray(F, x, xb + c);
            FloatVector v0 = FloatVector.fromArray(F, w, wo + c);
            FloatVector v1 = FloatVector.fromArray(F, w, w1 + c);
            FloatVector v2 = FloatVector.fromArray(F, w, w2 + c);
            FloatVector v3 = FloatVector.fromArray(F, w, w3 + c);
            a0 = v0.fma(xv, a0);
            a1 = v1.fma(xv, a1);
            a2 = v2.fma(xv, a2);
            a3 = v3.fma(xv, a3);
            b0 = v0.fma(yv, b0);
            b1 = v1.fma(yv, b1);
            b2 = v2.fma(yv, b2);
            b3 = v3.fma(yv, b3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        float r0 = b0.reduceLanes(VectorOperators.ADD);
        float r1 = b1.reduceLanes(VectorOperators.ADD);
        float r2 = b2.reduceLanes(VectorOperators.ADD);
        float r3 = b3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xa + c];
            float yc = x[xb + c];
            s0 += w[wo + c] * xc;
            s1 += w[w1 + c] * xc;
            s2 += w[w2 + c] * xc;
            s3 += w[w3 + c] * xc;
            r0 += w[wo + c] * yc;
            r1 += w[w1 + c] * yc;
            r2 += w[w2 + c] * yc;
            r3 += w[w3 + c] * yc;
        }
        out[oa] = s0;
        out[oa + 1] = s1;
        out[oa + 2] = s2;
        out[oa + 3] = s3;
        out[ob] = r0;
        out[ob + 1] = r1;
        out[ob + 2] = r2;
        out[ob + 3] = r3;
    }

    private static void kernel4x1(float[] w, int wo, int cols, float[] x, int xa, float[] out, int oa) {
        int upper = F.loopBound(cols);
        int w1 = wo + cols;
        int w2 = w1 + cols;
        int w3 = w2 + cols;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        int c = 0;
        for (; c < upper; c += F.length()) {
            FloatVector xv = FloatVector.fromArray(F, x, xa + c);
            a0 = FloatVector.fromArray(F, w, wo + c).fma(xv, a0);
            a1 = FloatVector.fromArray(F, w, w1 + c).fma(xv, a1);
            a2 = FloatVector.fromArray(F, w, w2 + c).fma(xv, a2);
            a3 = FloatVector.fromArray(F, w, w3 + c).fma(xv, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xa + c];
            s0 += w[wo + c] * xc;
            s1 += w[w1 + c] * xc;
            s2 += w[w2 + c] * xc;
            s3 += w[w3 + c] * xc;
        }
        out[oa] = s0;
        out[oa + 1] = s1;
        out[oa + 2] = s2;
        out[oa + 3] = s3;
    }
}
