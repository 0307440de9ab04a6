package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;

/** {@link Q8_0Tensor}'s rows interleaved on the heap (see {@link InterleavedTensor}). */
final class Q8_0x32Tensor extends InterleavedTensor {

    private static final int BLOCK = 32;
    /** One block of a group: a byte of every row for each element. */
    private static final int STEP = BLOCK * GROUP;

    Q8_0x32Tensor(Q8_0Tensor source) {
        super(source, BLOCK, BLOCK);
    }

    /** Bytes the copy of a {@code rows x cols} matrix takes on the heap. */
    static long heapBytes(int rows, int cols) {
        return InterleavedTensor.heapBytes(rows, cols, BLOCK, BLOCK);
    }

    @Override
    void dequantizeBlock(byte[] q, int at, float d, float[] out, int offset) {
        for (int k = 0; k < BLOCK; k++) {
            out[offset + k] = q[at + k * GROUP] * d;
        }
    }

    @Override
    void oneToken(byte[] q, int qo, float[] s, int so, float[] x, float[] out, int row, int rows) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            FloatVector d0 = FloatVector.fromArray(F, s, so + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, s, so + b * GROUP + LANES);
            int p = qo + b * STEP;
            int c = b * BLOCK;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector xv = FloatVector.broadcast(F, x[c + k]);
                a0 = load(q, p + k * GROUP).mul(d0).fma(xv, a0);
                a1 = load(q, p + k * GROUP + LANES).mul(d1).fma(xv, a1);
            }
        }
        if (rows == GROUP) {
            a0.intoArray(out, row);
            a1.intoArray(out, row + LANES);
        } else {
            float[] tile = Simd.tile(GROUP);
            a0.intoArray(tile, 0);
            a1.intoArray(tile, LANES);
            System.arraycopy(tile, 0, out, row, rows);
        }
    }

    @Override
    void twoGroups(byte[] q, int qa, int qb, float[] s, int sa, int sb, float[] x, float[] out, int row) {
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a0 = zero;
        FloatVector a1 = zero;
        FloatVector a2 = zero;
        FloatVector a3 = zero;
        for (int b = 0; b < blocks; b++) {
            FloatVector d0 = FloatVector.fromArray(F, s, sa + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, s, sa + b * GROUP + LANES);
            FloatVector d2 = FloatVector.fromArray(F, s, sb + b * GROUP);
            FloatVector d3 = FloatVector.fromArray(F, s, sb + b * GROUP + LANES);
            int p = qa + b * STEP;
            int p2 = qb + b * STEP;
            int c = b * BLOCK;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector xv = FloatVector.broadcast(F, x[c + k]);
                a0 = load(q, p + k * GROUP).mul(d0).fma(xv, a0);
                a1 = load(q, p + k * GROUP + LANES).mul(d1).fma(xv, a1);
                a2 = load(q, p2 + k * GROUP).mul(d2).fma(xv, a2);
                a3 = load(q, p2 + k * GROUP + LANES).mul(d3).fma(xv, a3);
            }
        }
        a0.intoArray(out, row);
        a1.intoArray(out, row + LANES);
        a2.intoArray(out, row + GROUP);
        a3.intoArray(out, row + GROUP + LANES);
    }

    @Override
    void manyTokens(
            byte[] q, int qo, float[] s, int so, float[] xp, int t, int tokens,
            float[] out, int outStride, int row, int rows) {
        int xo = t * cols();
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a00 = zero;
        FloatVector a01 = zero;
        FloatVector a02 = zero;
        FloatVector a03 = zero;
        FloatVector a04 = zero;
        FloatVector a05 = zero;
        FloatVector a06 = zero;
        FloatVector a07 = zero;
        FloatVector a10 = zero;
        FloatVector a11 = zero;
        FloatVector a12 = zero;
        FloatVector a13 = zero;
        FloatVector a14 = zero;
        FloatVector a15 = zero;
        FloatVector a16 = zero;
        FloatVector a17 = zero;
        int touched = 0;
        for (int b = 0; b < blocks; b++) {
            FloatVector d0 = FloatVector.fromArray(F, s, so + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, s, so + b * GROUP + LANES);
            int p = qo + b * STEP;
            touched += touch(q, p + STEP, STEP);
            int c = b * BLOCK;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector w0 = load(q, p + k * GROUP).mul(d0);
                FloatVector w1 = load(q, p + k * GROUP + LANES).mul(d1);
                int xk = xo + (c + k) * TOKENS;
                FloatVector xv = FloatVector.broadcast(F, xp[xk + 0]);
                a00 = w0.fma(xv, a00);
                a10 = w1.fma(xv, a10);
                xv = FloatVector.broadcast(F, xp[xk + 1]);
                a01 = w0.fma(xv, a01);
                a11 = w1.fma(xv, a11);
                xv = FloatVector.broadcast(F, xp[xk + 2]);
                a02 = w0.fma(xv, a02);
                a12 = w1.fma(xv, a12);
                xv = FloatVector.broadcast(F, xp[xk + 3]);
                a03 = w0.fma(xv, a03);
                a13 = w1.fma(xv, a13);
                xv = FloatVector.broadcast(F, xp[xk + 4]);
                a04 = w0.fma(xv, a04);
                a14 = w1.fma(xv, a14);
                xv = FloatVector.broadcast(F, xp[xk + 5]);
                a05 = w0.fma(xv, a05);
                a15 = w1.fma(xv, a15);
                xv = FloatVector.broadcast(F, xp[xk + 6]);
                a06 = w0.fma(xv, a06);
                a16 = w1.fma(xv, a16);
                xv = FloatVector.broadcast(F, xp[xk + 7]);
                a07 = w0.fma(xv, a07);
                a17 = w1.fma(xv, a17);
            }
        }
        keep(touched);
        // Whole vectors for all eight tokens: straight to out when all are wanted, else through a
        // tile (a partial group, or tokens past the last), then copied.
        boolean direct = rows == GROUP && t + TOKENS <= tokens;
        float[] dst = direct ? out : Simd.tile(GROUP * TOKENS);
        int stride = direct ? outStride : GROUP;
        int o = direct ? t * outStride + row : 0;
        a00.intoArray(dst, o);
        a10.intoArray(dst, o + LANES);
        a01.intoArray(dst, o + 1 * stride);
        a11.intoArray(dst, o + 1 * stride + LANES);
        a02.intoArray(dst, o + 2 * stride);
        a12.intoArray(dst, o + 2 * stride + LANES);
        a03.intoArray(dst, o + 3 * stride);
        a13.intoArray(dst, o + 3 * stride + LANES);
        a04.intoArray(dst, o + 4 * stride);
        a14.intoArray(dst, o + 4 * stride + LANES);
        a05.intoArray(dst, o + 5 * stride);
        a15.intoArray(dst, o + 5 * stride + LANES);
        a06.intoArray(dst, o + 6 * stride);
        a16.intoArray(dst, o + 6 * stride + LANES);
        a07.intoArray(dst, o + 7 * stride);
        a17.intoArray(dst, o + 7 * stride + LANES);
        if (!direct) {
            Simd.copyTile(dst, Math.min(TOKENS, tokens - t), GROUP, rows, out, t * outStride + row, outStride);
        }
    }

    @Override
    void expandGroup(int g, float[] out, int offset) {
        int so = g * blocks * GROUP;
        int qo = so * BLOCK;
        for (int b = 0; b < blocks; b++) {
            FloatVector d0 = FloatVector.fromArray(F, scales, so + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, scales, so + b * GROUP + LANES);
            int p = qo + b * STEP;
            int o = offset + b * STEP;
            for (int k = 0; k < BLOCK; k++) {
                load(quants, p + k * GROUP).mul(d0).intoArray(out, o + k * GROUP);
                load(quants, p + k * GROUP + LANES).mul(d1).intoArray(out, o + k * GROUP + LANES);
            }
        }
    }

    /**
     * Written out by hand as the other kernels: vectors handed to a helper that C2 does not
     * inline are boxed. 24 results, two widened columns, a token and two scales: 29 of the 32
     * vector registers.
     */
    @Override
    public boolean expandFusedRowsTimes(int from, float[] out, int offset, float[] x, int xo, float[] tile) {
        checkGroupStart(from);
        if (F.length() != LANES) {
            return false;
        }
        int so = from / GROUP * blocks * GROUP;
        int qo = so * BLOCK;
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
        for (int b = 0; b < blocks; b++) {
            FloatVector d0 = FloatVector.fromArray(F, scales, so + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, scales, so + b * GROUP + LANES);
            int p = qo + b * STEP;
            int o = offset + b * STEP;
            int xb = xo + b * BLOCK * FUSED_TOKENS;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector w0 = load(quants, p + k * GROUP).mul(d0);
                FloatVector w1 = load(quants, p + k * GROUP + LANES).mul(d1);
                w0.intoArray(out, o + k * GROUP);
                w1.intoArray(out, o + k * GROUP + LANES);
                int xk = xb + k * FUSED_TOKENS;
                FloatVector xv = FloatVector.broadcast(F, x[xk]);
                a0_0 = w0.fma(xv, a0_0);
                a1_0 = w1.fma(xv, a1_0);
                xv = FloatVector.broadcast(F, x[xk + 1]);
                a0_1 = w0.fma(xv, a0_1);
                a1_1 = w1.fma(xv, a1_1);
                xv = FloatVector.broadcast(F, x[xk + 2]);
                a0_2 = w0.fma(xv, a0_2);
                a1_2 = w1.fma(xv, a1_2);
                xv = FloatVector.broadcast(F, x[xk + 3]);
                a0_3 = w0.fma(xv, a0_3);
                a1_3 = w1.fma(xv, a1_3);
                xv = FloatVector.broadcast(F, x[xk + 4]);
                a0_4 = w0.fma(xv, a0_4);
                a1_4 = w1.fma(xv, a1_4);
                xv = FloatVector.broadcast(F, x[xk + 5]);
                a0_5 = w0.fma(xv, a0_5);
                a1_5 = w1.fma(xv, a1_5);
                xv = FloatVector.broadcast(F, x[xk + 6]);
                a0_6 = w0.fma(xv, a0_6);
                a1_6 = w1.fma(xv, a1_6);
                xv = FloatVector.broadcast(F, x[xk + 7]);
                a0_7 = w0.fma(xv, a0_7);
                a1_7 = w1.fma(xv, a1_7);
                xv = FloatVector.broadcast(F, x[xk + 8]);
                a0_8 = w0.fma(xv, a0_8);
                a1_8 = w1.fma(xv, a1_8);
                xv = FloatVector.broadcast(F, x[xk + 9]);
                a0_9 = w0.fma(xv, a0_9);
                a1_9 = w1.fma(xv, a1_9);
                xv = FloatVector.broadcast(F, x[xk + 10]);
                a0_10 = w0.fma(xv, a0_10);
                a1_10 = w1.fma(xv, a1_10);
                xv = FloatVector.broadcast(F, x[xk + 11]);
                a0_11 = w0.fma(xv, a0_11);
                a1_11 = w1.fma(xv, a1_11);
            }
        }
        a0_0.intoArray(tile, 0 * GROUP);
        a1_0.intoArray(tile, 0 * GROUP + LANES);
        a0_1.intoArray(tile, 1 * GROUP);
        a1_1.intoArray(tile, 1 * GROUP + LANES);
        a0_2.intoArray(tile, 2 * GROUP);
        a1_2.intoArray(tile, 2 * GROUP + LANES);
        a0_3.intoArray(tile, 3 * GROUP);
        a1_3.intoArray(tile, 3 * GROUP + LANES);
        a0_4.intoArray(tile, 4 * GROUP);
        a1_4.intoArray(tile, 4 * GROUP + LANES);
        a0_5.intoArray(tile, 5 * GROUP);
        a1_5.intoArray(tile, 5 * GROUP + LANES);
        a0_6.intoArray(tile, 6 * GROUP);
        a1_6.intoArray(tile, 6 * GROUP + LANES);
        a0_7.intoArray(tile, 7 * GROUP);
        a1_7.intoArray(tile, 7 * GROUP + LANES);
        a0_8.intoArray(tile, 8 * GROUP);
        a1_8.intoArray(tile, 8 * GROUP + LANES);
        a0_9.intoArray(tile, 9 * GROUP);
        a1_9.intoArray(tile, 9 * GROUP + LANES);
        a0_10.intoArray(tile, 10 * GROUP);
        a1_10.intoArray(tile, 10 * GROUP + LANES);
        a0_11.intoArray(tile, 11 * GROUP);
        a1_11.intoArray(tile, 11 * GROUP + LANES);
        return true;
    }

    private static FloatVector load(byte[] q, int at) {
        return Simd.widen(ByteVector.fromArray(Simd.DOT_BYTES, q, at));
    }
}
