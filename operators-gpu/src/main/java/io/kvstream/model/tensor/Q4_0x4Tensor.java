package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@link Q4_0Tensor}'s rows interleaved on the heap (see {@link InterleavedTensor}), for vectors
 * of 16 floats: a block's 16 bytes hold its first vector of elements in their low nibbles and its
 * second in their high nibbles, so one load feeds both, in the order the expanded row is
 * multiplied in.
 */
final class Q4_0x4Tensor extends InterleavedTensor {

    private static final int BLOCK = 32;
    private static final int HALF = BLOCK / 2;
    /** One block of each of a group's rows. */
    private static final int STEP = GROUP * HALF;

    Q4_0x4Tensor(Q4_0Tensor source) {
        super(source, BLOCK, HALF);
    }

    /** Bytes the copy of a {@code rows x cols} matrix takes on the heap. */
    static long heapBytes(int rows, int cols) {
        return InterleavedTensor.heapBytes(rows, cols, BLOCK, HALF);
    }

    /** Whether this machine's vectors have the width the kernels below are written for. */
    static boolean fits() {
        return Simd.FUSED && Simd.DOT.length() == HALF;
    }

    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        int slot = rowSlot(row);
        for (int b = 0; b < blocks; b++, slot += GROUP) {
            FloatVector d = FloatVector.broadcast(Simd.DOT, scales[slot]);
            ByteVector q = ByteVector.fromArray(Simd.DOT_BYTES, quants, slot * HALF);
            int o = offset + b * BLOCK;
            ((FloatVector) q.and((byte) 0x0F).sub((byte) 8).convertShape(VectorOperators.B2F, Simd.DOT, 0))
                    .mul(d)
                    .intoArray(out, o);
            ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8)
                            .convertShape(VectorOperators.B2F, Simd.DOT, 0))
                    .mul(d)
                    .intoArray(out, o + HALF);
        }
    }

    @Override
    boolean copiesGroups() {
        return true;
    }

    /**
     * Nibbles are widened in place, not in a helper: C2 stops inlining helpers once a method this
     * size reaches its node budget, and a vector returned from a call it did not inline is boxed.
     * The high nibbles shift as shorts (one instruction; bytes have no shift on x86, and a byte
     * shift costs five), and {@code (n - 8) * d} is {@code fma(n, d, -8d)}: the same real number,
     * {@code 8d} being exact, rounded once either way, so the same bits in one instruction fewer.
     */
    @Override
    void oneToken(byte[] q, float[] s, int slot, float[] x, float[] out, int row, int rows) {
        FloatVector a0 = FloatVector.zero(Simd.DOT);
        FloatVector a1 = FloatVector.zero(Simd.DOT);
        FloatVector a2 = FloatVector.zero(Simd.DOT);
        FloatVector a3 = FloatVector.zero(Simd.DOT);
        for (int b = 0, sp = slot, p = slot * HALF, c = 0; b < blocks; b++, sp += GROUP, p += STEP, c += BLOCK) {
            FloatVector xl = FloatVector.fromArray(Simd.DOT, x, c);
            FloatVector xh = FloatVector.fromArray(Simd.DOT, x, c + HALF);
            float d0 = s[sp];
            FloatVector m0 = FloatVector.broadcast(Simd.DOT, d0);
            FloatVector n0 = FloatVector.broadcast(Simd.DOT, -8f * d0);
            ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, q, p);
            a0 = ((FloatVector) v0.and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m0, n0).fma(xl, a0);
            a0 = ((FloatVector) v0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m0, n0).fma(xh, a0);
            float d1 = s[sp + 1];
            FloatVector m1 = FloatVector.broadcast(Simd.DOT, d1);
            FloatVector n1 = FloatVector.broadcast(Simd.DOT, -8f * d1);
            ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + 1 * HALF);
            a1 = ((FloatVector) v1.and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m1, n1).fma(xl, a1);
            a1 = ((FloatVector) v1.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m1, n1).fma(xh, a1);
            float d2 = s[sp + 2];
            FloatVector m2 = FloatVector.broadcast(Simd.DOT, d2);
            FloatVector n2 = FloatVector.broadcast(Simd.DOT, -8f * d2);
            ByteVector v2 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + 2 * HALF);
            a2 = ((FloatVector) v2.and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m2, n2).fma(xl, a2);
            a2 = ((FloatVector) v2.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m2, n2).fma(xh, a2);
            float d3 = s[sp + 3];
            FloatVector m3 = FloatVector.broadcast(Simd.DOT, d3);
            FloatVector n3 = FloatVector.broadcast(Simd.DOT, -8f * d3);
            ByteVector v3 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + 3 * HALF);
            a3 = ((FloatVector) v3.and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m3, n3).fma(xl, a3);
            a3 = ((FloatVector) v3.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m3, n3).fma(xh, a3);
        }
        Simd.store(out, row, rows, a0.reduceLanes(VectorOperators.ADD),
                a1.reduceLanes(VectorOperators.ADD), a2.reduceLanes(VectorOperators.ADD),
                a3.reduceLanes(VectorOperators.ADD));
    }

    @Override
    void fourTokens(
            byte[] q, float[] s, int slot, float[] x, int xStride, int t, int tokens,
            float[] out, int outStride, int row, int rows) {
        int last = tokens - 1;
        int x0 = t * xStride;
        int x1 = Math.min(t + 1, last) * xStride;
        int x2 = Math.min(t + 2, last) * xStride;
        int x3 = Math.min(t + 3, last) * xStride;
        FloatVector a00 = FloatVector.zero(Simd.DOT);
        FloatVector a01 = FloatVector.zero(Simd.DOT);
        FloatVector a02 = FloatVector.zero(Simd.DOT);
        FloatVector a03 = FloatVector.zero(Simd.DOT);
        FloatVector a10 = FloatVector.zero(Simd.DOT);
        FloatVector a11 = FloatVector.zero(Simd.DOT);
        FloatVector a12 = FloatVector.zero(Simd.DOT);
        FloatVector a13 = FloatVector.zero(Simd.DOT);
        FloatVector a20 = FloatVector.zero(Simd.DOT);
        FloatVector a21 = FloatVector.zero(Simd.DOT);
        FloatVector a22 = FloatVector.zero(Simd.DOT);
        FloatVector a23 = FloatVector.zero(Simd.DOT);
        FloatVector a30 = FloatVector.zero(Simd.DOT);
        FloatVector a31 = FloatVector.zero(Simd.DOT);
        FloatVector a32 = FloatVector.zero(Simd.DOT);
        FloatVector a33 = FloatVector.zero(Simd.DOT);
        for (int b = 0, sp = slot, p = slot * HALF, c = 0; b < blocks; b++, sp += GROUP, p += STEP, c += BLOCK) {
            FloatVector xl0 = FloatVector.fromArray(Simd.DOT, x, x0 + c);
            FloatVector xh0 = FloatVector.fromArray(Simd.DOT, x, x0 + c + HALF);
            FloatVector xl1 = FloatVector.fromArray(Simd.DOT, x, x1 + c);
            FloatVector xh1 = FloatVector.fromArray(Simd.DOT, x, x1 + c + HALF);
            FloatVector xl2 = FloatVector.fromArray(Simd.DOT, x, x2 + c);
            FloatVector xh2 = FloatVector.fromArray(Simd.DOT, x, x2 + c + HALF);
            FloatVector xl3 = FloatVector.fromArray(Simd.DOT, x, x3 + c);
            FloatVector xh3 = FloatVector.fromArray(Simd.DOT, x, x3 + c + HALF);
            float d0 = s[sp];
            FloatVector m0 = FloatVector.broadcast(Simd.DOT, d0);
            FloatVector n0 = FloatVector.broadcast(Simd.DOT, -8f * d0);
            ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, q, p);
            FloatVector lo0 = ((FloatVector) v0.and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m0, n0);
            FloatVector hi0 = ((FloatVector) v0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m0, n0);
            a00 = lo0.fma(xl0, a00);
            a00 = hi0.fma(xh0, a00);
            a01 = lo0.fma(xl1, a01);
            a01 = hi0.fma(xh1, a01);
            a02 = lo0.fma(xl2, a02);
            a02 = hi0.fma(xh2, a02);
            a03 = lo0.fma(xl3, a03);
            a03 = hi0.fma(xh3, a03);
            float d1 = s[sp + 1];
            FloatVector m1 = FloatVector.broadcast(Simd.DOT, d1);
            FloatVector n1 = FloatVector.broadcast(Simd.DOT, -8f * d1);
            ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + 1 * HALF);
            FloatVector lo1 = ((FloatVector) v1.and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m1, n1);
            FloatVector hi1 = ((FloatVector) v1.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m1, n1);
            a10 = lo1.fma(xl0, a10);
            a10 = hi1.fma(xh0, a10);
            a11 = lo1.fma(xl1, a11);
            a11 = hi1.fma(xh1, a11);
            a12 = lo1.fma(xl2, a12);
            a12 = hi1.fma(xh2, a12);
            a13 = lo1.fma(xl3, a13);
            a13 = hi1.fma(xh3, a13);
            float d2 = s[sp + 2];
            FloatVector m2 = FloatVector.broadcast(Simd.DOT, d2);
            FloatVector n2 = FloatVector.broadcast(Simd.DOT, -8f * d2);
            ByteVector v2 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + 2 * HALF);
            FloatVector lo2 = ((FloatVector) v2.and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m2, n2);
            FloatVector hi2 = ((FloatVector) v2.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m2, n2);
            a20 = lo2.fma(xl0, a20);
            a20 = hi2.fma(xh0, a20);
            a21 = lo2.fma(xl1, a21);
            a21 = hi2.fma(xh1, a21);
            a22 = lo2.fma(xl2, a22);
            a22 = hi2.fma(xh2, a22);
            a23 = lo2.fma(xl3, a23);
            a23 = hi2.fma(xh3, a23);
            float d3 = s[sp + 3];
            FloatVector m3 = FloatVector.broadcast(Simd.DOT, d3);
            FloatVector n3 = FloatVector.broadcast(Simd.DOT, -8f * d3);
            ByteVector v3 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + 3 * HALF);
            FloatVector lo3 = ((FloatVector) v3.and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m3, n3);
            FloatVector hi3 = ((FloatVector) v3.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).convertShape(VectorOperators.B2F, Simd.DOT, 0)).fma(m3, n3);
            a30 = lo3.fma(xl0, a30);
            a30 = hi3.fma(xh0, a30);
            a31 = lo3.fma(xl1, a31);
            a31 = hi3.fma(xh1, a31);
            a32 = lo3.fma(xl2, a32);
            a32 = hi3.fma(xh2, a32);
            a33 = lo3.fma(xl3, a33);
            a33 = hi3.fma(xh3, a33);
        }
        Simd.storeTile(out, t, tokens, outStride, row, rows,
                a00.reduceLanes(VectorOperators.ADD), a10.reduceLanes(VectorOperators.ADD),
                a20.reduceLanes(VectorOperators.ADD), a30.reduceLanes(VectorOperators.ADD),
                a01.reduceLanes(VectorOperators.ADD), a11.reduceLanes(VectorOperators.ADD),
                a21.reduceLanes(VectorOperators.ADD), a31.reduceLanes(VectorOperators.ADD),
                a02.reduceLanes(VectorOperators.ADD), a12.reduceLanes(VectorOperators.ADD),
                a22.reduceLanes(VectorOperators.ADD), a32.reduceLanes(VectorOperators.ADD),
                a03.reduceLanes(VectorOperators.ADD), a13.reduceLanes(VectorOperators.ADD),
                a23.reduceLanes(VectorOperators.ADD), a33.reduceLanes(VectorOperators.ADD));
    }

}
