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
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
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
        FloatVector a00 = FloatVector.zero(F);
        FloatVector a01 = FloatVector.zero(F);
        FloatVector a02 = FloatVector.zero(F);
        FloatVector a03 = FloatVector.zero(F);
        FloatVector a04 = FloatVector.zero(F);
        FloatVector a05 = FloatVector.zero(F);
        FloatVector a06 = FloatVector.zero(F);
        FloatVector a07 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F);
        FloatVector a11 = FloatVector.zero(F);
        FloatVector a12 = FloatVector.zero(F);
        FloatVector a13 = FloatVector.zero(F);
        FloatVector a14 = FloatVector.zero(F);
        FloatVector a15 = FloatVector.zero(F);
        FloatVector a16 = FloatVector.zero(F);
        FloatVector a17 = FloatVector.zero(F);
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

    private static FloatVector load(byte[] q, int at) {
        return Simd.widen(ByteVector.fromArray(Simd.DOT_BYTES, q, at));
    }
}
