package io.kvstream.runtime.cpu;

import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.runtime.Parallel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * {@code out[t][r] = W[r] . x[t]} for steps of many tokens (prefill) as a register-blocked matrix
 * multiply over packed panels, the way BLAS libraries organise one.
 *
 * <p>Each chunk of {@link #ROW_CHUNK} rows is expanded to fp32 once per step and packed as panels
 * of {@link #MR} rows, lane-interleaved ({@code [column vector][row][lane]}); the step's tokens
 * are packed once per call in groups of {@link #NR} the same way. A kernel multiplies one panel by
 * one token group with 24 vector accumulators in registers: every loaded vector feeds three or
 * eight FMAs, where the row-by-row kernels fed two. A token group is multiplied by all panels of
 * the chunk in turn while it sits in the L1 cache. Packing puts everything a kernel reads at one
 * running index with constant offsets, which C2 turns into plain addressed loads with the bounds
 * checks hoisted out of the loop.
 *
 * <p>Every output keeps the arithmetic of {@link VectorMath#dot} over the expanded row: one
 * accumulator of {@link VectorMath#F} lanes, {@code w.fma(x, acc)} over the columns in order, then
 * {@link VectorMath#sumLanes}. So the bits do not depend on how many tokens share the step, and they
 * equal the fused single-token kernels'.
 *
 * <p>All scratch space lives in one array of at least half a G1 region, so that G1 allocates it
 * humongous, at the start of a region, where it never moves: vector loads from offsets that are
 * multiples of 64 bytes then never straddle two cache lines (measured 1.4x on this kernel).
 */
final class PackedGemm {

    private static final VectorSpecies<Float> F = VectorMath.F;
    private static final int L = F.length();
    /** Rows of a panel, and of a kernel. */
    static final int MR = 8;
    /** Tokens of a group, and of a kernel: with {@link #MR}, 24 accumulators of the 32 registers. */
    static final int NR = 3;
    /**
     * Rows expanded together: four panels, which a token group meets in turn (measured against
     * one, two and eight panels on 2048- and 8192-column matrices).
     */
    static final int ROW_CHUNK = 4 * MR;
    private static final int PANEL_STRIDE = MR * L;
    private static final int GROUP_STRIDE = NR * L;
    /** Where the packed tokens start: the first cache-line-aligned float of the scratch array. */
    private static final int X_BASE = HeapRegions.FIRST_ALIGNED_FLOAT;

    private final Parallel parallel;
    private final Parallel.RangeBody chunkBody = this::chunk;
    private float[] s = new float[0];
    // The multiply in progress; calls come from one thread, one at a time.
    private FloatTensor w;
    private int tokens;
    private int iters;
    private int groups;
    private int workerBase;
    private int workerSize;
    private float[] out;
    private int outStride;

    PackedGemm(Parallel parallel) {
        this.parallel = parallel;
    }

    /**
     * Whether {@code w} goes this way: 512-bit vectors (32 registers hold a kernel's 24
     * accumulators) and whole vectors per row, where {@link VectorMath#dot} has no scalar tail.
     */
    static boolean supports(FloatTensor w) {
        return L == 16 && w.cols() % L == 0;
    }

    void multiply(FloatTensor w, float[] x, int xStride, int tokens, float[] out, int outStride) {
        int cols = w.cols();
        this.w = w;
        this.tokens = tokens;
        this.iters = cols / L;
        this.groups = (tokens + NR - 1) / NR;
        this.out = out;
        this.outStride = outStride;
        int xSize = groups * iters * GROUP_STRIDE;
        // Per worker: the chunk's panels and one row to expand into.
        this.workerSize = ROW_CHUNK * cols + cols;
        this.workerBase = X_BASE + xSize;
        this.s = HeapRegions.alignedScratch(s, workerBase + parallel.threads() * workerSize);
        packTokens(x, xStride);
        parallel.forRange(w.rows(), ROW_CHUNK, chunkBody);
        this.out = null;
    }

    /**
     * Token {@code g * NR + t}'s column vector {@code i} goes to {@code [g][i][t]}; missing tokens
     * are zeros. Copies measured as fast as vector loads and stores here, and unlike {@code
     * intoArray} they cannot be boxed whatever vector shapes other code in the JVM uses.
     */
    private void packTokens(float[] x, int xStride) {
        for (int g = 0; g < groups; g++) {
            for (int t = 0; t < NR; t++) {
                int token = g * NR + t;
                int to = X_BASE + g * iters * GROUP_STRIDE + t * L;
                for (int i = 0; i < iters; i++) {
                    if (token < tokens) {
                        System.arraycopy(x, token * xStride + i * L, s, to + i * GROUP_STRIDE, L);
                    } else {
                        Arrays.fill(s, to + i * GROUP_STRIDE, to + i * GROUP_STRIDE + L, 0f);
                    }
                }
            }
        }
    }

    /** Rows {@code [from, to)}, at most {@link #ROW_CHUNK}, against every token. */
    private void chunk(int worker, int from, int to) {
        int n = to - from;
        int panels = (n + MR - 1) / MR;
        int panelBase = workerBase + worker * workerSize;
        int rowBase = panelBase + ROW_CHUNK * iters * L;
        packRows(from, n, panels, panelBase, rowBase);
        for (int g = 0; g < groups; g++) {
            int xo = X_BASE + g * iters * GROUP_STRIDE;
            int groupTokens = Math.min(NR, tokens - g * NR);
            for (int p = 0; p < panels; p++) {
                kernel(s, panelBase + p * iters * PANEL_STRIDE, xo, iters,
                        out, g * NR * outStride + from + p * MR, outStride,
                        Math.min(MR, n - p * MR), groupTokens);
            }
        }
    }

    /** Expands rows {@code [from, from + n)} into lane-interleaved panels; rows past {@code n} are zeros. */
    private void packRows(int from, int n, int panels, int panelBase, int rowBase) {
        for (int r = 0; r < panels * MR; r++) {
            int to = panelBase + (r / MR) * iters * PANEL_STRIDE + (r % MR) * L;
            if (r < n) {
                w.dequantizeRow(from + r, s, rowBase);
            }
            for (int i = 0; i < iters; i++) {
                if (r < n) {
                    System.arraycopy(s, rowBase + i * L, s, to + i * PANEL_STRIDE, L);
                } else {
                    Arrays.fill(s, to + i * PANEL_STRIDE, to + i * PANEL_STRIDE + L, 0f);
                }
            }
        }
    }

    /**
     * Writes the first {@code n} of eight row results. Takes the sums, not the vectors: a vector
     * passed to a call that is not inlined is boxed, and its loop with it.
     */
    private static void store8(float[] out, int at, int n,
                               float s0, float s1, float s2, float s3,
                               float s4, float s5, float s6, float s7) {
        out[at] = s0;
        if (n > 1) {
            out[at + 1] = s1;
        }
        if (n > 2) {
            out[at + 2] = s2;
        }
        if (n > 3) {
            out[at + 3] = s3;
        }
        if (n > 4) {
            out[at + 4] = s4;
        }
        if (n > 5) {
            out[at + 5] = s5;
        }
        if (n > 6) {
            out[at + 6] = s6;
        }
        if (n > 7) {
            out[at + 7] = s7;
        }
    }

    /**
     * Panel at {@code wo} times token group at {@code xo} over all {@code iters} column vectors;
     * result {@code (row r, token t)} goes to {@code out[o + t * outStride + r]} for the first
     * {@code rows} rows and {@code tokens} tokens. Written out by hand, and the sums leave as
     * floats: a vector handed to a helper, or stored through {@code intoArray} after the loop, is
     * boxed once 256-bit code elsewhere in the JVM has polluted the Vector API's shared type
     * profiles (measured 30x slower).
     */
    static void kernel(float[] s, int wo, int xo, int iters,
                       float[] out, int o, int outStride, int rows, int tokens) {
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a00 = zero;
        FloatVector a10 = zero;
        FloatVector a20 = zero;
        FloatVector a30 = zero;
        FloatVector a40 = zero;
        FloatVector a50 = zero;
        FloatVector a60 = zero;
        FloatVector a70 = zero;
        FloatVector a01 = zero;
        FloatVector a11 = zero;
        FloatVector a21 = zero;
        FloatVector a31 = zero;
        FloatVector a41 = zero;
        FloatVector a51 = zero;
        FloatVector a61 = zero;
        FloatVector a71 = zero;
        FloatVector a02 = zero;
        FloatVector a12 = zero;
        FloatVector a22 = zero;
        FloatVector a32 = zero;
        FloatVector a42 = zero;
        FloatVector a52 = zero;
        FloatVector a62 = zero;
        FloatVector a72 = zero;
        for (int i = 0; i < iters; i++) {
            // Offsets linear in i: C2 hoists the bounds checks out of the loop.
            int wi = wo + i * PANEL_STRIDE;
            int xi = xo + i * GROUP_STRIDE;
            FloatVector y0 = FloatVector.fromArray(F, s, xi);
            FloatVector y1 = FloatVector.fromArray(F, s, xi + L);
            FloatVector y2 = FloatVector.fromArray(F, s, xi + 2 * L);
            FloatVector v = FloatVector.fromArray(F, s, wi);
            a00 = v.fma(y0, a00);
            a01 = v.fma(y1, a01);
            a02 = v.fma(y2, a02);
            v = FloatVector.fromArray(F, s, wi + 1 * L);
            a10 = v.fma(y0, a10);
            a11 = v.fma(y1, a11);
            a12 = v.fma(y2, a12);
            v = FloatVector.fromArray(F, s, wi + 2 * L);
            a20 = v.fma(y0, a20);
            a21 = v.fma(y1, a21);
            a22 = v.fma(y2, a22);
            v = FloatVector.fromArray(F, s, wi + 3 * L);
            a30 = v.fma(y0, a30);
            a31 = v.fma(y1, a31);
            a32 = v.fma(y2, a32);
            v = FloatVector.fromArray(F, s, wi + 4 * L);
            a40 = v.fma(y0, a40);
            a41 = v.fma(y1, a41);
            a42 = v.fma(y2, a42);
            v = FloatVector.fromArray(F, s, wi + 5 * L);
            a50 = v.fma(y0, a50);
            a51 = v.fma(y1, a51);
            a52 = v.fma(y2, a52);
            v = FloatVector.fromArray(F, s, wi + 6 * L);
            a60 = v.fma(y0, a60);
            a61 = v.fma(y1, a61);
            a62 = v.fma(y2, a62);
            v = FloatVector.fromArray(F, s, wi + 7 * L);
            a70 = v.fma(y0, a70);
            a71 = v.fma(y1, a71);
            a72 = v.fma(y2, a72);
        }
        store8(out, o, rows,
                VectorMath.sumLanes(a00), VectorMath.sumLanes(a10),
                VectorMath.sumLanes(a20), VectorMath.sumLanes(a30),
                VectorMath.sumLanes(a40), VectorMath.sumLanes(a50),
                VectorMath.sumLanes(a60), VectorMath.sumLanes(a70));
        if (tokens > 1) {
            store8(out, o + 1 * outStride, rows,
                    VectorMath.sumLanes(a01), VectorMath.sumLanes(a11),
                    VectorMath.sumLanes(a21), VectorMath.sumLanes(a31),
                    VectorMath.sumLanes(a41), VectorMath.sumLanes(a51),
                    VectorMath.sumLanes(a61), VectorMath.sumLanes(a71));
        }
        if (tokens > 2) {
            store8(out, o + 2 * outStride, rows,
                    VectorMath.sumLanes(a02), VectorMath.sumLanes(a12),
                    VectorMath.sumLanes(a22), VectorMath.sumLanes(a32),
                    VectorMath.sumLanes(a42), VectorMath.sumLanes(a52),
                    VectorMath.sumLanes(a62), VectorMath.sumLanes(a72));
        }
    }
}
