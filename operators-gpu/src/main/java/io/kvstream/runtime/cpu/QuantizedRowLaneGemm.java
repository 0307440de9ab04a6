package io.kvstream.runtime.cpu;

import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.Q8_0Tokens;
import io.kvstream.runtime.Parallel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code out[t][r] = W[r] . x[t]} for steps of many tokens over a tensor that quantizes its
 * activations ({@link FloatTensor#quantizesActivations}), giving the bits of its integer kernels
 * ({@code Q4_0xQ8_0Dot}): per block, {@code sumi = sum(w * q)}, then {@code acc = fma(sumi, d_w *
 * d_x, acc)} over the blocks in turn. On Java 17 and 21, where the 16-bit pair kernel of Java
 * 25 is not compiled reliably, prefill goes this way instead of the eight-token integer kernel,
 * whose compiled code was slow in some JVMs.
 *
 * <p>Why fp32 gives the integer bits: a weight's block value ({@code nibble - 8}, at most 8 in
 * magnitude) and a token's ({@code |q| <= 127}) are exact floats, and so is every partial sum of
 * a block, at most {@code 32 * 8 * 127}, far below 2^24. So a block's FMA chain from zero ends
 * on {@code sumi} exactly, in any order.
 *
 * <p>Layout as {@link RowLaneGemm}: panels of {@link #MR} rows from {@link
 * FloatTensor#expandFusedQuants} (block values, then the rows' block scales), the tokens packed
 * in groups of {@link #NR} by every thread for itself, values then block scales. The kernel
 * holds {@code MR x NR} block sums and as many results: 24 of the 32 vector registers, so six
 * tokens where {@link RowLaneGemm} takes twelve.
 */
final class QuantizedRowLaneGemm {

    private static final VectorSpecies<Float> F = VectorMath.F;
    private static final int L = 16;
    /** Rows of a panel: two vectors of {@link #L} lanes, as {@link FloatTensor#fusedRows}. */
    static final int MR = 2 * L;
    /** Tokens of a group. */
    static final int NR = 6;
    /** Elements of a block, as {@link Q8_0Tokens} quantizes them. */
    private static final int BLOCK = 32;
    /** Tokens of one pass: bounds each thread's packed copy (see {@link RowLaneGemm#PASS_TOKENS}). */
    static final int PASS_TOKENS = 64 * NR;
    private static final int X_BASE = HeapRegions.FIRST_ALIGNED_FLOAT;

    private final Parallel parallel;
    private final float[][] tiles;
    /** Per thread: packed token values, their scales at {@link #scaleBase}, the panel at {@link #panelBase}. */
    private final float[][] scratch;
    private final int[] packedPass;
    private final Parallel.RangeBody chunkBody = this::chunk;
    // The multiply in progress; calls come from one thread, one at a time.
    private FloatTensor w;
    private int cols;
    private int blocks;
    private Q8_0Tokens x;
    private int pass;
    private int firstToken;
    private int tokens;
    private int groups;
    private int scaleBase;
    private int panelBase;
    private float[] out;
    private int outStride;

    QuantizedRowLaneGemm(Parallel parallel) {
        this.parallel = parallel;
        this.tiles = new float[parallel.threads()][MR * NR];
        this.scratch = new float[parallel.threads()][0];
        this.packedPass = new int[parallel.threads()];
    }

    /** Whether {@code w} goes this way: it quantizes activations and expands its panels for it. */
    static boolean supports(FloatTensor w) {
        return F.length() == L && w.fusedRows() == MR && w.quantizesActivations() && w.cols() % BLOCK == 0;
    }

    /**
     * Every token that {@code x} holds, quantized from the input of {@code w}.
     *
     * @param reuse whether {@code x} holds what it held at the previous call: threads that packed
     *     it keep their copies
     */
    void multiply(FloatTensor w, Q8_0Tokens x, float[] out, int outStride, boolean reuse) {
        int tokens = x.tokens();
        this.w = w;
        this.cols = w.cols();
        this.blocks = cols / BLOCK;
        this.x = x;
        this.out = out;
        this.outStride = outStride;
        int perPass = RowLaneGemm.passTokens(tokens, PASS_TOKENS, NR);
        int maxGroups = perPass / NR;
        this.scaleBase = X_BASE + maxGroups * cols * NR;
        this.panelBase = (scaleBase + maxGroups * blocks * NR + L - 1) / L * L;
        for (int i = 0; i < scratch.length; i++) {
            float[] grown = HeapRegions.alignedScratch(scratch[i], panelBase + MR * (cols + blocks));
            if (grown != scratch[i]) {
                scratch[i] = grown;
                packedPass[i] = -1;
            }
        }
        // Copies of one pass only, the last: a longer step packs every pass again.
        boolean keep = reuse && perPass >= tokens;
        for (int t0 = 0; t0 < tokens; t0 += perPass) {
            this.firstToken = t0;
            this.tokens = Math.min(perPass, tokens - t0);
            this.groups = (this.tokens + NR - 1) / NR;
            if (!keep) {
                pass++;
            }
            parallel.forRange(w.rows(), MR, chunkBody);
        }
        this.w = null;
        this.out = null;
    }

    /** Rows {@code [from, to)}, one panel, against every token of the pass. */
    private void chunk(int worker, int from, int to) {
        float[] s = scratch[worker];
        if (packedPass[worker] != pass) {
            packTokens(s);
            packedPass[worker] = pass;
        }
        w.expandFusedQuants(from, s, panelBase);
        for (int g = 0; g < groups; g++) {
            kernel(s, panelBase, panelBase + cols * MR, X_BASE + g * cols * NR, scaleBase + g * blocks * NR, blocks,
                    out, (firstToken + g * NR) * outStride + from, outStride, to - from,
                    Math.min(NR, tokens - g * NR), tiles[worker]);
        }
    }

    /**
     * The pass's token {@code g * NR + t}: element {@code k} to {@code s[X_BASE + g * cols * NR + k
     * * NR + t]}, block {@code b}'s scale to {@code s[scaleBase + (g * blocks + b) * NR + t]};
     * missing tokens are zeros.
     */
    private void packTokens(float[] s) {
        for (int g = 0; g < groups; g++) {
            for (int t = 0; t < NR; t++) {
                int token = g * NR + t;
                int values = X_BASE + g * cols * NR + t;
                int scales = scaleBase + g * blocks * NR + t;
                if (token < tokens) {
                    x.copyValues(firstToken + token, s, values, NR);
                    x.copyScales(firstToken + token, s, scales, NR);
                } else {
                    for (int k = 0; k < cols; k++) {
                        s[values + k * NR] = 0f;
                    }
                    for (int b = 0; b < blocks; b++) {
                        s[scales + b * NR] = 0f;
                    }
                }
            }
        }
    }

    /**
     * Panel values at {@code wo} and scales at {@code wd} times the token group's values at
     * {@code xo} and scales at {@code xd0}; result {@code (row r, token t)} to {@code out[o + t *
     * outStride + r]} for the first {@code rows} rows and {@code tokens} tokens, a partial panel
     * or group through {@code tile}. Written out by hand, as {@link RowLaneGemm#kernel}.
     */
    static void kernel(float[] s, int wo, int wd, int xo, int xd0, int blocks, float[] out, int o,
                       int outStride, int rows, int tokens, float[] tile) {
        FloatVector a0_0 = FloatVector.zero(F);
        FloatVector a1_0 = FloatVector.zero(F);
        FloatVector a0_1 = FloatVector.zero(F);
        FloatVector a1_1 = FloatVector.zero(F);
        FloatVector a0_2 = FloatVector.zero(F);
        FloatVector a1_2 = FloatVector.zero(F);
        FloatVector a0_3 = FloatVector.zero(F);
        FloatVector a1_3 = FloatVector.zero(F);
        FloatVector a0_4 = FloatVector.zero(F);
        FloatVector a1_4 = FloatVector.zero(F);
        FloatVector a0_5 = FloatVector.zero(F);
        FloatVector a1_5 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            FloatVector s0_0 = FloatVector.zero(F);
            FloatVector s1_0 = FloatVector.zero(F);
            FloatVector s0_1 = FloatVector.zero(F);
            FloatVector s1_1 = FloatVector.zero(F);
            FloatVector s0_2 = FloatVector.zero(F);
            FloatVector s1_2 = FloatVector.zero(F);
            FloatVector s0_3 = FloatVector.zero(F);
            FloatVector s1_3 = FloatVector.zero(F);
            FloatVector s0_4 = FloatVector.zero(F);
            FloatVector s1_4 = FloatVector.zero(F);
            FloatVector s0_5 = FloatVector.zero(F);
            FloatVector s1_5 = FloatVector.zero(F);
            int kb = b * BLOCK;
            for (int j = 0; j < BLOCK; j++) {
                // Offsets linear in j: C2 hoists the bounds checks out of the loop.
                FloatVector w0 = FloatVector.fromArray(F, s, wo + (kb + j) * MR);
                FloatVector w1 = FloatVector.fromArray(F, s, wo + (kb + j) * MR + L);
                int xk = xo + (kb + j) * NR;
                FloatVector xv = FloatVector.broadcast(F, s[xk]);
                s0_0 = w0.fma(xv, s0_0);
                s1_0 = w1.fma(xv, s1_0);
                xv = FloatVector.broadcast(F, s[xk + 1]);
                s0_1 = w0.fma(xv, s0_1);
                s1_1 = w1.fma(xv, s1_1);
                xv = FloatVector.broadcast(F, s[xk + 2]);
                s0_2 = w0.fma(xv, s0_2);
                s1_2 = w1.fma(xv, s1_2);
                xv = FloatVector.broadcast(F, s[xk + 3]);
                s0_3 = w0.fma(xv, s0_3);
                s1_3 = w1.fma(xv, s1_3);
                xv = FloatVector.broadcast(F, s[xk + 4]);
                s0_4 = w0.fma(xv, s0_4);
                s1_4 = w1.fma(xv, s1_4);
                xv = FloatVector.broadcast(F, s[xk + 5]);
                s0_5 = w0.fma(xv, s0_5);
                s1_5 = w1.fma(xv, s1_5);
            }
            FloatVector d0 = FloatVector.fromArray(F, s, wd + b * MR);
            FloatVector d1 = FloatVector.fromArray(F, s, wd + b * MR + L);
            int xd = xd0 + b * NR;
            FloatVector e = FloatVector.broadcast(F, s[xd]);
            a0_0 = s0_0.fma(d0.mul(e), a0_0);
            a1_0 = s1_0.fma(d1.mul(e), a1_0);
            e = FloatVector.broadcast(F, s[xd + 1]);
            a0_1 = s0_1.fma(d0.mul(e), a0_1);
            a1_1 = s1_1.fma(d1.mul(e), a1_1);
            e = FloatVector.broadcast(F, s[xd + 2]);
            a0_2 = s0_2.fma(d0.mul(e), a0_2);
            a1_2 = s1_2.fma(d1.mul(e), a1_2);
            e = FloatVector.broadcast(F, s[xd + 3]);
            a0_3 = s0_3.fma(d0.mul(e), a0_3);
            a1_3 = s1_3.fma(d1.mul(e), a1_3);
            e = FloatVector.broadcast(F, s[xd + 4]);
            a0_4 = s0_4.fma(d0.mul(e), a0_4);
            a1_4 = s1_4.fma(d1.mul(e), a1_4);
            e = FloatVector.broadcast(F, s[xd + 5]);
            a0_5 = s0_5.fma(d0.mul(e), a0_5);
            a1_5 = s1_5.fma(d1.mul(e), a1_5);
        }
        // zero + acc, as the integer kernels store it (see Q4_0x32Tensor's class comment).
        FloatVector z = FloatVector.zero(F);
        boolean direct = rows == MR && tokens == NR;
        float[] dst = direct ? out : tile;
        int stride = direct ? outStride : MR;
        int at = direct ? o : 0;
        z.add(a0_0).intoArray(dst, at);
        z.add(a1_0).intoArray(dst, at + L);
        z.add(a0_1).intoArray(dst, at + 1 * stride);
        z.add(a1_1).intoArray(dst, at + 1 * stride + L);
        z.add(a0_2).intoArray(dst, at + 2 * stride);
        z.add(a1_2).intoArray(dst, at + 2 * stride + L);
        z.add(a0_3).intoArray(dst, at + 3 * stride);
        z.add(a1_3).intoArray(dst, at + 3 * stride + L);
        z.add(a0_4).intoArray(dst, at + 4 * stride);
        z.add(a1_4).intoArray(dst, at + 4 * stride + L);
        z.add(a0_5).intoArray(dst, at + 5 * stride);
        z.add(a1_5).intoArray(dst, at + 5 * stride + L);
        if (!direct) {
            for (int t = 0; t < tokens; t++) {
                System.arraycopy(tile, t * MR, out, o + t * outStride, rows);
            }
        }
    }
}
