package io.kvstream.runtime.cpu;

import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.runtime.Parallel;

import javax.annotation.Nullable;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code out[t][r] = W[r] . x[t]} for steps of many tokens (prefill) over a tensor with a fused
 * dot product ({@link FloatTensor#hasFusedDot}), giving the bits of its {@link
 * FloatTensor#dotRows}: every row's plain sequential sum, one row per vector lane.
 *
 * <p>Each group of {@link #MR} rows is expanded to fp32 once per pass ({@link
 * FloatTensor#expandFusedRows}, element {@code (r, k)} at {@code k * MR + r}), and the tokens are
 * packed in groups of {@link #NR}, element {@code (t, k)} at {@code k * NR + t}. The kernel keeps
 * {@code MR x NR} results in 24 vector registers; for each column it loads two weight vectors and
 * broadcasts each token's value, so a 64-byte load feeds twelve FMAs. The row-along dot products
 * of {@link PackedGemm} load a 64-byte token vector for every eight FMAs, and loads are what
 * limits them on this machine (one core, operands in cache: 175 against 125 GFLOP/s).
 *
 * <p>Every thread packs the tokens for itself, at its first panel of a pass. A single packed copy
 * written by the calling thread made the other thread read every token from the first one's
 * cache, panel after panel: synth 1B's layer matrices at 128 tokens, two threads, 295 against
 * 318 GFLOP/s packed per thread (336 when nothing is packed at all). A pass takes at most {@link
 * #PASS_TOKENS} tokens, which bounds each thread's copy; longer steps expand the weights once per
 * pass. A one-pass multiply that the caller says takes the previous one's activations (a layer's
 * k and v after q, up after gate: {@code MatMul#sameActivationsNext}) keeps each thread's copy.
 * When the tokens do not fill the last group, up to {@link #NR_SHORT} of them go through a kernel
 * of that width: padding 128 tokens to 132 cost more than the 3% it adds (336 against 359).
 *
 * <p>Panels are handed out by {@link Parallel#forShares}: each thread works through a contiguous
 * run of them before it helps with another's, so that the weights it widens follow each other in
 * memory.
 *
 * <p>Tensors that can ({@link FloatTensor#expandFusedRowsTimes}, Q8_0) widen each panel while
 * they multiply it by the first group of tokens: the weights' reads from memory then overlap
 * FMAs, where a pass of its own waited on them (an expansion took 9.6 us of a 2,048-column
 * panel's ~85, 3.7 us with the weights in cache). Layer matrices, 128 tokens: 316-350 against
 * 348-362 GFLOP/s.
 */
final class RowLaneGemm {

    private static final VectorSpecies<Float> F = VectorMath.F;
    private static final int L = 16;
    /** Rows of a panel: two vectors of {@link #L} lanes, as {@link FloatTensor#fusedRows}. */
    static final int MR = 2 * L;
    /** Tokens of a group: with {@link #MR}, 24 accumulators of the 32 registers. */
    static final int NR = FloatTensor.FUSED_TOKENS;
    /** Tokens of the narrow kernel, for a last group this short. */
    static final int NR_SHORT = 8;
    /** Tokens of one pass: 32 groups, 12.6 MB per thread packed at 8,192 columns. */
    static final int PASS_TOKENS = 32 * NR;
    /** Where each thread's packed tokens start: the first cache-line-aligned float of its array. */
    private static final int X_BASE = HeapRegions.FIRST_ALIGNED_FLOAT;
    /**
     * Columns packed at a time: each token's run of them is read in order and written into a
     * region of {@code 32 * NR} floats. Column by column over all of a group's tokens read them
     * from {@link #NR} rows a multiple of 4 KB apart, one cache set: 210-220 against 100-165 us for
     * 128 tokens of 2,048 columns (one thread).
     */
    private static final int PACK_COLS = 32;

    private final Parallel parallel;
    private final float[][] tiles;
    /** Per thread: its packed tokens from {@link #X_BASE}, then its expanded panel at {@link #panelBase}. */
    private final float[][] scratch;
    /** Per thread: the pass whose tokens its scratch holds. */
    private final int[] packedPass;
    /** The previous multiply's activations, for {@link #multiply}'s {@code sameTokens}. */
    @Nullable private float[] lastX;
    private int lastXStride;
    private int lastTokens;
    private int lastCols;
    private final Parallel.RangeBody chunkBody = this::chunk;
    // The multiply in progress; calls come from one thread, one at a time.
    private FloatTensor w;
    private int cols;
    private float[] x;
    private int xStride;
    private int pass;
    /** The pass's first token, its number of tokens, and its groups (the last maybe short). */
    private int firstToken;
    private int tokens;
    private int groups;
    /** Width of the last group: {@link #NR}, or {@link #NR_SHORT} when its tokens fit that. */
    private int lastWidth;
    private int panelBase;
    private float[] out;
    private int outStride;

    RowLaneGemm(Parallel parallel) {
        this.parallel = parallel;
        this.tiles = new float[parallel.threads()][MR * NR];
        this.scratch = new float[parallel.threads()][0];
        this.packedPass = new int[parallel.threads()];
    }

    /**
     * Whether {@code w} goes this way: its fused rows are this kernel's panel, on 16-lane vectors,
     * and it takes fp32 activations (the fp32 panels would not give a quantizing copy's bits).
     */
    static boolean supports(FloatTensor w) {
        return F.length() == L && w.fusedRows() == MR && !w.quantizesActivations();
    }

    /**
     * @param sameTokens the caller's promise that {@code x} holds what it held at the previous
     *     multiply: a step of one pass then multiplies the tokens each thread packed for that call
     *     (a layer's k and v after q, up after gate), if it took the same tokens and columns
     */
    void multiply(FloatTensor w, float[] x, int xStride, int tokens, float[] out, int outStride, boolean sameTokens) {
        boolean reuse = sameTokens && x == lastX && xStride == lastXStride && tokens == lastTokens
                && w.cols() == lastCols && tokens <= PASS_TOKENS;
        this.w = w;
        this.cols = w.cols();
        this.x = x;
        this.xStride = xStride;
        this.out = out;
        this.outStride = outStride;
        this.lastX = x;
        this.lastXStride = xStride;
        this.lastTokens = tokens;
        this.lastCols = cols;
        int perPass = passTokens(tokens);
        int maxGroups = perPass / NR;
        this.panelBase = X_BASE + (maxGroups * cols * NR + L - 1) / L * L;
        for (int i = 0; i < scratch.length; i++) {
            float[] grown = HeapRegions.alignedScratch(scratch[i], panelBase + MR * cols);
            // A new array holds no tokens to reuse.
            reuse &= grown == scratch[i];
            scratch[i] = grown;
        }
        for (int t0 = 0; t0 < tokens; t0 += perPass) {
            this.firstToken = t0;
            this.tokens = Math.min(perPass, tokens - t0);
            this.groups = (this.tokens + NR - 1) / NR;
            int last = this.tokens - (groups - 1) * NR;
            this.lastWidth = last <= NR_SHORT ? NR_SHORT : NR;
            if (!reuse) {
                pass++;
            }
            parallel.forShares(w.rows(), MR, chunkBody);
        }
        this.x = null;
        this.out = null;
        this.w = null;
    }

    /**
     * Forgets which activations the threads packed: the caller may rewrite them before its next
     * multiply here, through multiplies that do not come this way (another format), so that
     * multiply's {@code sameTokens} would otherwise reuse stale packs.
     */
    void forgetTokens() {
        lastX = null;
    }

    /**
     * Tokens per pass when a step of {@code tokens} goes in passes of at most {@link
     * #PASS_TOKENS}: passes of equal size in whole groups, so that none is a short remainder.
     */
    private static int passTokens(int tokens) {
        int passes = (tokens + PASS_TOKENS - 1) / PASS_TOKENS;
        return ((tokens + passes - 1) / passes + NR - 1) / NR * NR;
    }

    /** Rows {@code [from, to)}, one panel, against every token of the pass. */
    private void chunk(int worker, int from, int to) {
        float[] s = scratch[worker];
        if (packedPass[worker] != pass) {
            packTokens(s);
            packedPass[worker] = pass;
        }
        int rows = to - from;
        int g = 0;
        // The first group widens the panel as it multiplies, where the tensor can (Q8_0).
        if ((groups > 1 || lastWidth == NR) && w.expandFusedRowsTimes(from, s, panelBase, s, X_BASE, tiles[worker])) {
            float[] tile = tiles[worker];
            int n = Math.min(NR, tokens);
            for (int t = 0; t < n; t++) {
                System.arraycopy(tile, t * MR, out, (firstToken + t) * outStride + from, rows);
            }
            g = 1;
        } else {
            w.expandFusedRows(from, s, panelBase);
        }
        for (; g < groups; g++) {
            int xo = X_BASE + g * cols * NR;
            int o = (firstToken + g * NR) * outStride + from;
            int n = Math.min(NR, tokens - g * NR);
            if (g == groups - 1 && lastWidth == NR_SHORT) {
                kernelShort(s, panelBase, xo, cols, out, o, outStride, rows, n, tiles[worker]);
            } else {
                kernel(s, panelBase, xo, cols, out, o, outStride, rows, n, tiles[worker]);
            }
        }
    }

    /**
     * The pass's token {@code g * NR + t}, column {@code k}, to {@code s[X_BASE + g * cols * NR + k
     * * width + t]}, where the width is {@link #NR} but for a short last group; missing tokens are
     * zeros. In runs of {@link #PACK_COLS} columns, each token's run read in order.
     */
    private void packTokens(float[] s) {
        for (int g = 0; g < groups; g++) {
            int base = X_BASE + g * cols * NR;
            int width = g == groups - 1 ? lastWidth : NR;
            int n = Math.min(width, tokens - g * NR);
            int from = (firstToken + g * NR) * xStride;
            for (int k0 = 0; k0 < cols; k0 += PACK_COLS) {
                int k1 = Math.min(cols, k0 + PACK_COLS);
                for (int t = 0; t < width; t++) {
                    int o = base + k0 * width + t;
                    if (t < n) {
                        int i = from + t * xStride;
                        for (int k = k0; k < k1; k++) {
                            s[o] = x[i + k];
                            o += width;
                        }
                    } else {
                        for (int k = k0; k < k1; k++) {
                            s[o] = 0f;
                            o += width;
                        }
                    }
                }
            }
        }
    }

    /**
     * Panel at {@code wo} times token group at {@code xo}; result {@code (row r, token t)} goes to
     * {@code out[o + t * outStride + r]} for the first {@code rows} rows and {@code tokens}
     * tokens, a partial panel or group through {@code tile}. Written out by hand: a vector handed to a
     * helper that C2 does not inline is boxed, and the loop with it.
     */
    static void kernel(float[] s, int wo, int xo, int cols, float[] out, int o, int outStride,
                       int rows, int tokens, float[] tile) {
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a0_0 = zero;
        FloatVector a1_0 = zero;
        FloatVector a0_1 = zero;
        FloatVector a1_1 = zero;
        FloatVector a0_2 = zero;
        FloatVector a1_2 = zero;
        FloatVector a0_3 = zero;
        FloatVector a1_3 = zero;
        FloatVector a0_4 = zero;
        FloatVector a1_4 = zero;
        FloatVector a0_5 = zero;
        FloatVector a1_5 = zero;
        FloatVector a0_6 = zero;
        FloatVector a1_6 = zero;
        FloatVector a0_7 = zero;
        FloatVector a1_7 = zero;
        FloatVector a0_8 = zero;
        FloatVector a1_8 = zero;
        FloatVector a0_9 = zero;
        FloatVector a1_9 = zero;
        FloatVector a0_10 = zero;
        FloatVector a1_10 = zero;
        FloatVector a0_11 = zero;
        FloatVector a1_11 = zero;
        for (int k = 0; k < cols; k++) {
            // Offsets linear in k: C2 hoists the bounds checks out of the loop.
            FloatVector w0 = FloatVector.fromArray(F, s, wo + k * MR);
            FloatVector w1 = FloatVector.fromArray(F, s, wo + k * MR + L);
            int xk = xo + k * NR;
            FloatVector xv = FloatVector.broadcast(F, s[xk + 0]);
            a0_0 = w0.fma(xv, a0_0);
            a1_0 = w1.fma(xv, a1_0);
            xv = FloatVector.broadcast(F, s[xk + 1]);
            a0_1 = w0.fma(xv, a0_1);
            a1_1 = w1.fma(xv, a1_1);
            xv = FloatVector.broadcast(F, s[xk + 2]);
            a0_2 = w0.fma(xv, a0_2);
            a1_2 = w1.fma(xv, a1_2);
            xv = FloatVector.broadcast(F, s[xk + 3]);
            a0_3 = w0.fma(xv, a0_3);
            a1_3 = w1.fma(xv, a1_3);
            xv = FloatVector.broadcast(F, s[xk + 4]);
            a0_4 = w0.fma(xv, a0_4);
            a1_4 = w1.fma(xv, a1_4);
            xv = FloatVector.broadcast(F, s[xk + 5]);
            a0_5 = w0.fma(xv, a0_5);
            a1_5 = w1.fma(xv, a1_5);
            xv = FloatVector.broadcast(F, s[xk + 6]);
            a0_6 = w0.fma(xv, a0_6);
            a1_6 = w1.fma(xv, a1_6);
            xv = FloatVector.broadcast(F, s[xk + 7]);
            a0_7 = w0.fma(xv, a0_7);
            a1_7 = w1.fma(xv, a1_7);
            xv = FloatVector.broadcast(F, s[xk + 8]);
            a0_8 = w0.fma(xv, a0_8);
            a1_8 = w1.fma(xv, a1_8);
            xv = FloatVector.broadcast(F, s[xk + 9]);
            a0_9 = w0.fma(xv, a0_9);
            a1_9 = w1.fma(xv, a1_9);
            xv = FloatVector.broadcast(F, s[xk + 10]);
            a0_10 = w0.fma(xv, a0_10);
            a1_10 = w1.fma(xv, a1_10);
            xv = FloatVector.broadcast(F, s[xk + 11]);
            a0_11 = w0.fma(xv, a0_11);
            a1_11 = w1.fma(xv, a1_11);
        }
        // Whole vectors for all tokens of the group: straight to out when all are wanted, else
        // through the tile (a partial panel, or the last group's missing tokens), then copied.
        boolean direct = rows == MR && tokens == NR;
        float[] dst = direct ? out : tile;
        int stride = direct ? outStride : MR;
        int at = direct ? o : 0;
        a0_0.intoArray(dst, at);
        a1_0.intoArray(dst, at + L);
        a0_1.intoArray(dst, at + 1 * stride);
        a1_1.intoArray(dst, at + 1 * stride + L);
        a0_2.intoArray(dst, at + 2 * stride);
        a1_2.intoArray(dst, at + 2 * stride + L);
        a0_3.intoArray(dst, at + 3 * stride);
        a1_3.intoArray(dst, at + 3 * stride + L);
        a0_4.intoArray(dst, at + 4 * stride);
        a1_4.intoArray(dst, at + 4 * stride + L);
        a0_5.intoArray(dst, at + 5 * stride);
        a1_5.intoArray(dst, at + 5 * stride + L);
        a0_6.intoArray(dst, at + 6 * stride);
        a1_6.intoArray(dst, at + 6 * stride + L);
        a0_7.intoArray(dst, at + 7 * stride);
        a1_7.intoArray(dst, at + 7 * stride + L);
        a0_8.intoArray(dst, at + 8 * stride);
        a1_8.intoArray(dst, at + 8 * stride + L);
        a0_9.intoArray(dst, at + 9 * stride);
        a1_9.intoArray(dst, at + 9 * stride + L);
        a0_10.intoArray(dst, at + 10 * stride);
        a1_10.intoArray(dst, at + 10 * stride + L);
        a0_11.intoArray(dst, at + 11 * stride);
        a1_11.intoArray(dst, at + 11 * stride + L);
        if (!direct) {
            for (int t = 0; t < tokens; t++) {
                System.arraycopy(tile, t * MR, out, o + t * outStride, rows);
            }
        }
    }

    /** As {@link #kernel}, for a group of {@link #NR_SHORT} tokens: 16 accumulators. */
    static void kernelShort(float[] s, int wo, int xo, int cols, float[] out, int o, int outStride,
                            int rows, int tokens, float[] tile) {
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a0_0 = zero;
        FloatVector a1_0 = zero;
        FloatVector a0_1 = zero;
        FloatVector a1_1 = zero;
        FloatVector a0_2 = zero;
        FloatVector a1_2 = zero;
        FloatVector a0_3 = zero;
        FloatVector a1_3 = zero;
        FloatVector a0_4 = zero;
        FloatVector a1_4 = zero;
        FloatVector a0_5 = zero;
        FloatVector a1_5 = zero;
        FloatVector a0_6 = zero;
        FloatVector a1_6 = zero;
        FloatVector a0_7 = zero;
        FloatVector a1_7 = zero;
        for (int k = 0; k < cols; k++) {
            // Offsets linear in k: C2 hoists the bounds checks out of the loop.
            FloatVector w0 = FloatVector.fromArray(F, s, wo + k * MR);
            FloatVector w1 = FloatVector.fromArray(F, s, wo + k * MR + L);
            int xk = xo + k * NR_SHORT;
            FloatVector xv = FloatVector.broadcast(F, s[xk + 0]);
            a0_0 = w0.fma(xv, a0_0);
            a1_0 = w1.fma(xv, a1_0);
            xv = FloatVector.broadcast(F, s[xk + 1]);
            a0_1 = w0.fma(xv, a0_1);
            a1_1 = w1.fma(xv, a1_1);
            xv = FloatVector.broadcast(F, s[xk + 2]);
            a0_2 = w0.fma(xv, a0_2);
            a1_2 = w1.fma(xv, a1_2);
            xv = FloatVector.broadcast(F, s[xk + 3]);
            a0_3 = w0.fma(xv, a0_3);
            a1_3 = w1.fma(xv, a1_3);
            xv = FloatVector.broadcast(F, s[xk + 4]);
            a0_4 = w0.fma(xv, a0_4);
            a1_4 = w1.fma(xv, a1_4);
            xv = FloatVector.broadcast(F, s[xk + 5]);
            a0_5 = w0.fma(xv, a0_5);
            a1_5 = w1.fma(xv, a1_5);
            xv = FloatVector.broadcast(F, s[xk + 6]);
            a0_6 = w0.fma(xv, a0_6);
            a1_6 = w1.fma(xv, a1_6);
            xv = FloatVector.broadcast(F, s[xk + 7]);
            a0_7 = w0.fma(xv, a0_7);
            a1_7 = w1.fma(xv, a1_7);
        }
        // Whole vectors for all tokens of the group: straight to out when all are wanted, else
        // through the tile (a partial panel, or the last group's missing tokens), then copied.
        boolean direct = rows == MR && tokens == NR_SHORT;
        float[] dst = direct ? out : tile;
        int stride = direct ? outStride : MR;
        int at = direct ? o : 0;
        a0_0.intoArray(dst, at);
        a1_0.intoArray(dst, at + L);
        a0_1.intoArray(dst, at + 1 * stride);
        a1_1.intoArray(dst, at + 1 * stride + L);
        a0_2.intoArray(dst, at + 2 * stride);
        a1_2.intoArray(dst, at + 2 * stride + L);
        a0_3.intoArray(dst, at + 3 * stride);
        a1_3.intoArray(dst, at + 3 * stride + L);
        a0_4.intoArray(dst, at + 4 * stride);
        a1_4.intoArray(dst, at + 4 * stride + L);
        a0_5.intoArray(dst, at + 5 * stride);
        a1_5.intoArray(dst, at + 5 * stride + L);
        a0_6.intoArray(dst, at + 6 * stride);
        a1_6.intoArray(dst, at + 6 * stride + L);
        a0_7.intoArray(dst, at + 7 * stride);
        a1_7.intoArray(dst, at + 7 * stride + L);
        if (!direct) {
            for (int t = 0; t < tokens; t++) {
                System.arraycopy(tile, t * MR, out, o + t * outStride, rows);
            }
        }
    }
}
