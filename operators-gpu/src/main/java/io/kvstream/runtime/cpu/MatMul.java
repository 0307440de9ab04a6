package io.kvstream.runtime.cpu;

import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.Q8_0Tokens;
import io.kvstream.runtime.Parallel;

import javax.annotation.Nullable;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code out[t][r] = W[r] . x[t]} for every token {@code t} of a step and every row {@code r} of a
 * weight matrix.
 *
 * <p>Each tensor's results have the same bits however many tokens share the step, which keeps a
 * sequence's logits independent of its batch. Tensors with a fused dot product (the CPU's heap
 * copies of Q8_0 and Q4_0) sum each row in order, one row per vector lane: small steps (decode)
 * widen their blocks in registers ({@link FloatTensor#dotRows}), large ones (prefill) go through
 * {@link RowLaneGemm}. Heap copies that quantize activations (Q4_0, {@code
 * -Dkvstream.cpu.activations=q8_0}) take the step's tokens quantized once here, at every step
 * size, since the packed multiply would not give their integer sums' bits; on Java 25 large
 * steps quantize them in pairs for their own panel kernel ({@link Q8_0Tokens#quantizePairs}),
 * which gives the same bits. Other tensors take dot products along the row: large steps through {@link
 * PackedGemm}, the rest with rows expanded to fp32 a chunk at a time, once per step, multiplied
 * against every token of the batch while they sit in cache. Either way a step over many
 * sequences reads each weight once.
 */
final class MatMul {

    private static final VectorSpecies<Float> F = VectorMath.F;
    /** Rows expanded together; a multiple of the 4-row kernel. */
    private static final int ROW_CHUNK = 16;
    /**
     * Up to this many tokens, tensors with a fused dot product widen each weight in registers
     * for eight tokens at a time, and the others expand rows for the row-by-row kernels below.
     * Beyond it, the packed multiplies take the matrices they support: packing costs more than
     * it gains up to here (synth 1B's layer matrices, two threads: at 8 tokens Q8_0 108 against
     * 156 ms packed, Q4_0 88 against 137; at 16 tokens Q8_0 178 against 223-233).
     */
    private static final int SMALL_STEP = 16;
    /** Tokens multiplied against a row chunk before moving on. */
    private static final int TOKEN_BLOCK = 32;

    private final Parallel parallel;
    private final PackedGemm gemm;
    private final RowLaneGemm rowLaneGemm;
    private final float[][] scratch;
    private final Parallel.RangeBody rowsBody = this::rows;
    private final Parallel.RangeBody fusedBody = this::fusedRows;
    private final Parallel.RangeBody quantizedBody = this::quantizedRows;
    /** The step's tokens for matrices that quantize them, quantized once per multiply. */
    private final Q8_0Tokens quantized = new Q8_0Tokens();
    /** The array and stride {@link #quantized} was made from, for {@link #sameActivationsNext}. */
    @Nullable private float[] quantizedX;
    private int quantizedStride;
    private final Parallel.RangeBody quantizeBody = this::quantizeGroups;
    private final Parallel.RangeBody pairQuantizeBody = this::quantizePairGroups;
    /** Set by {@link #sameActivationsNext}, cleared by the next multiply. */
    private boolean sameActivations;
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
        this.rowLaneGemm = new RowLaneGemm(parallel);
        this.scratch = new float[parallel.threads()][0];
    }

    /**
     * @param x activations, token {@code t} at {@code x[t * xStride .. + w.cols())}
     * @param out results, token {@code t} row {@code r} at {@code out[t * outStride + r]}
     */
    void multiply(FloatTensor w, float[] x, int xStride, int tokens, float[] out, int outStride) {
        boolean same = sameActivations;
        sameActivations = false;
        if (!same) {
            // Activations the caller may have rewritten since: nothing made from them before is reused.
            quantizedX = null;
            rowLaneGemm.forgetTokens();
        }
        boolean fused = w.hasFusedDot();
        if (tokens > SMALL_STEP && fused && RowLaneGemm.supports(w)) {
            rowLaneGemm.multiply(w, x, xStride, tokens, out, outStride, same);
            return;
        }
        if (tokens > SMALL_STEP && !fused && PackedGemm.supports(w)) {
            gemm.multiply(w, x, xStride, tokens, out, outStride);
            return;
        }
        this.w = w;
        this.x = x;
        this.xStride = xStride;
        this.tokens = tokens;
        this.out = out;
        this.outStride = outStride;
        boolean quantizing = w.quantizesActivations();
        if (quantizing && tokens > SMALL_STEP) {
            // Many tokens: each panel's weights serve all of them from cache, so the threads'
            // balance matters more than long streams. Each thread's panels in a contiguous run, as
            // RowLaneGemm's, then the others' leftovers (forShares): in two chunks per thread
            // (streamChunk), a thread the machine slowed down held the other up at every
            // multiply (synth 1B's layer matrices, Q4_0, 128 tokens, Java 17: 276 against 310 GFLOP/s).
            quantize(same, Q8_0Tokens.PAIRS);
            parallel.forShares(w.rows(), Q8_0Tokens.PAIRS ? Q8_0Tokens.PAIR_ROWS : w.fusedRows(), quantizedBody);
        } else if (quantizing) {
            quantize(same, false);
            parallel.forRange(w.rows(), streamChunk(w.rows(), w.fusedRows()), quantizedBody);
        } else if (fused) {
            parallel.forRange(w.rows(), streamChunk(w.rows(), w.fusedRows()), fusedBody);
        } else {
            parallel.forRange(w.rows(), ROW_CHUNK, rowsBody);
        }
        this.w = null;
        this.x = null;
        this.out = null;
    }

    /**
     * Quantizes the multiply's tokens into {@link #quantized}, in pairs or not, unless {@code
     * same} (the caller's promise) and it holds these tokens already: a layer's k and v take q's,
     * up takes gate's. The step's threads share the work by groups of tokens; on the calling
     * thread alone it was 5% of a 128-token prefill's samples on Java 17 (synth 1B, Q4_0), the
     * other thread waiting.
     */
    private void quantize(boolean same, boolean pairs) {
        int cols = w.cols();
        if (same && x == quantizedX && xStride == quantizedStride && quantized.holds(tokens, cols, pairs)) {
            return;
        }
        quantizedX = x;
        quantizedStride = xStride;
        int groups = pairs ? quantized.beginPairs(tokens, cols) : quantized.begin(tokens, cols);
        parallel.forRange(groups, 1, pairs ? pairQuantizeBody : quantizeBody);
    }

    private void quantizeGroups(int worker, int from, int to) {
        quantized.quantizeGroups(x, xStride, from, to);
    }

    private void quantizePairGroups(int worker, int from, int to) {
        quantized.quantizePairGroups(x, xStride, from, to);
    }

    /**
     * The caller's promise that the next {@link #multiply} takes the activations of the previous
     * one, in the same array and unchanged since. Prefill then skips packing the tokens again (a
     * layer's k and v after q, up after gate: 130-160 us per thread and matrix at 128 tokens of
     * 2,048 columns); other steps do as before. A call with other activations packs them anew.
     */
    void sameActivationsNext() {
        sameActivations = true;
    }

    /**
     * Rows a thread takes at a time in a fused multiply, in whole groups of {@code unit}: two
     * chunks per thread, so that a thread the OS slows down leaves some of its share to the
     * others, yet each chunk is a long run of memory. Chunks of 16 rows alternating between two
     * threads cut the hardware prefetchers' streams short: 14.5 against 18.7 GB/s over Q8_0
     * matrices of 2048 columns with chunks of 256 rows or more.
     */
    private int streamChunk(int rows, int unit) {
        int perThread = rows / (2 * parallel.threads());
        return Math.max(unit, perThread / unit * unit);
    }

    /** Rows {@code [from, to)} of the fused multiply in progress, against every token. */
    private void fusedRows(int worker, int from, int to) {
        w.dotRows(from, to - from, x, xStride, tokens, out, outStride);
    }

    /** As {@link #fusedRows}, against {@link #quantized}. */
    private void quantizedRows(int worker, int from, int to) {
        w.dotRows(from, to - from, quantized, out, outStride);
    }

    /** Rows {@code [from, to)} of the multiply in progress, expanded, against every token. */
    private void rows(int worker, int from, int to) {
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
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a0 = zero;
        FloatVector a1 = zero;
        FloatVector a2 = zero;
        FloatVector a3 = zero;
        FloatVector b0 = zero;
        FloatVector b1 = zero;
        FloatVector b2 = zero;
        FloatVector b3 = zero;
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
        float s0 = VectorMath.sumLanes(a0);
        float s1 = VectorMath.sumLanes(a1);
        float s2 = VectorMath.sumLanes(a2);
        float s3 = VectorMath.sumLanes(a3);
        float r0 = VectorMath.sumLanes(b0);
        float r1 = VectorMath.sumLanes(b1);
        float r2 = VectorMath.sumLanes(b2);
        float r3 = VectorMath.sumLanes(b3);
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
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a0 = zero;
        FloatVector a1 = zero;
        FloatVector a2 = zero;
        FloatVector a3 = zero;
        int c = 0;
        for (; c < upper; c += F.length()) {
            FloatVector xv = FloatVector.fromArray(F, x, xa + c);
            a0 = FloatVector.fromArray(F, w, wo + c).fma(xv, a0);
            a1 = FloatVector.fromArray(F, w, w1 + c).fma(xv, a1);
            a2 = FloatVector.fromArray(F, w, w2 + c).fma(xv, a2);
            a3 = FloatVector.fromArray(F, w, w3 + c).fma(xv, a3);
        }
        float s0 = VectorMath.sumLanes(a0);
        float s1 = VectorMath.sumLanes(a1);
        float s2 = VectorMath.sumLanes(a2);
        float s3 = VectorMath.sumLanes(a3);
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
