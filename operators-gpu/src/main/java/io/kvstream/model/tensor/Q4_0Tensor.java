package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.nio.ByteBuffer;

/**
 * GGML Q4_0: blocks of 32 elements, each an fp16 scale {@code d} then 16 bytes of nibbles. Byte
 * {@code j} holds element {@code j} in its low nibble and element {@code j + 16} in its high
 * nibble; element {@code = (nibble - 8) * d} (ggml {@code dequantize_bytesq4_0}).
 */
public final class Q4_0Tensor extends FusedBlockTensor {

    private static final int BLOCK = 32;
    private static final int BLOCK_BYTES = 2 + BLOCK / 2;
    private static final int HALF = BLOCK / 2;

    public Q4_0Tensor(String name, int rows, int cols, ByteBuffer data) {
        super(name, rows, cols, data, BLOCK, BLOCK_BYTES);
    }

    @Override
    public GgmlType type() {
        return GgmlType.Q4_0;
    }

    @Override
    void dequantizeRowScalar(int row, float[] out, int offset) {
        int blocks = cols() / BLOCK;
        int pos = row * blocks * BLOCK_BYTES;
        for (int b = 0; b < blocks; b++, pos += BLOCK_BYTES) {
            float d = Float16.toFloat(data.getShort(pos));
            int o = offset + b * BLOCK;
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = data.get(pos + 2 + j) & 0xFF;
                out[o + j] = ((q & 0x0F) - 8) * d;
                out[o + j + BLOCK / 2] = ((q >>> 4) - 8) * d;
            }
        }
    }

    @Override
    void dequantizeRowVector(int row, float[] out, int offset) {
        int blocks = cols() / BLOCK;
        int rowBytes = blocks * BLOCK_BYTES;
        byte[] bytes = Simd.copyRow(data, row * rowBytes, rowBytes);
        for (int b = 0, pos = 0; b < blocks; b++, pos += BLOCK_BYTES) {
            FloatVector d = FloatVector.broadcast(Simd.F, Float16.toFloat(Simd.getShort(bytes, pos)));
            int o = offset + b * BLOCK;
            for (int j = 0; j < BLOCK / 2; j += Simd.F.length()) {
                ByteVector q = ByteVector.fromArray(Simd.B, bytes, pos + 2 + j);
                ByteVector lo = q.and((byte) 0x0F).sub((byte) 8);
                ByteVector hi = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
                ((FloatVector) lo.convertShape(VectorOperators.B2F, Simd.F, 0))
                        .mul(d)
                        .intoArray(out, o + j);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, Simd.F, 0))
                        .mul(d)
                        .intoArray(out, o + j + BLOCK / 2);
            }
        }
    }

    /**
     * Where a vector holds half a block (16 floats), its bytes' low nibbles are the block's first
     * vector of elements and their high nibbles the second, so one load feeds both, in the order
     * the expanded row is multiplied in.
     */
    @Override
    public boolean hasFusedDot() {
        return Simd.FUSED && Simd.DOT.length() == HALF;
    }

    /**
     * Four rows (from the copy {@code q}) against one token. The nibbles are widened in place,
     * not in a helper: C2 stops inlining helpers once a method this size reaches its node budget,
     * and a vector returned from a call it did not inline is boxed.
     */
    @Override
    void oneToken(byte[] q, int rowBytes, float[] x, float[] out, int row, int rows) {
        int blocks = cols() / BLOCK;
        int p1 = rowBytes;
        int p2 = 2 * rowBytes;
        int p3 = 3 * rowBytes;
        FloatVector a0 = FloatVector.zero(Simd.DOT);
        FloatVector a1 = FloatVector.zero(Simd.DOT);
        FloatVector a2 = FloatVector.zero(Simd.DOT);
        FloatVector a3 = FloatVector.zero(Simd.DOT);
        for (int b = 0, pos = 0, c = 0; b < blocks; b++, pos += BLOCK_BYTES, c += BLOCK) {
            float d0 = Float16.toFloat(Simd.getShort(q, pos));
            float d1 = Float16.toFloat(Simd.getShort(q, p1 + pos));
            float d2 = Float16.toFloat(Simd.getShort(q, p2 + pos));
            float d3 = Float16.toFloat(Simd.getShort(q, p3 + pos));
            FloatVector xl = FloatVector.fromArray(Simd.DOT, x, c);
            FloatVector xh = FloatVector.fromArray(Simd.DOT, x, c + HALF);
            ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, q, pos + 2);
            FloatVector lo0 = ((FloatVector) v0.and((byte) 0x0F).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d0);
            FloatVector hi0 = ((FloatVector) v0.lanewise(VectorOperators.LSHR, 4).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d0);
            a0 = lo0.fma(xl, a0);
            a0 = hi0.fma(xh, a0);
            ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, q, p1 + pos + 2);
            FloatVector lo1 = ((FloatVector) v1.and((byte) 0x0F).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d1);
            FloatVector hi1 = ((FloatVector) v1.lanewise(VectorOperators.LSHR, 4).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d1);
            a1 = lo1.fma(xl, a1);
            a1 = hi1.fma(xh, a1);
            ByteVector v2 = ByteVector.fromArray(Simd.DOT_BYTES, q, p2 + pos + 2);
            FloatVector lo2 = ((FloatVector) v2.and((byte) 0x0F).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d2);
            FloatVector hi2 = ((FloatVector) v2.lanewise(VectorOperators.LSHR, 4).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d2);
            a2 = lo2.fma(xl, a2);
            a2 = hi2.fma(xh, a2);
            ByteVector v3 = ByteVector.fromArray(Simd.DOT_BYTES, q, p3 + pos + 2);
            FloatVector lo3 = ((FloatVector) v3.and((byte) 0x0F).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d3);
            FloatVector hi3 = ((FloatVector) v3.lanewise(VectorOperators.LSHR, 4).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d3);
            a3 = lo3.fma(xl, a3);
            a3 = hi3.fma(xh, a3);
        }
        Simd.store(out, row, rows, a0.reduceLanes(VectorOperators.ADD),
                a1.reduceLanes(VectorOperators.ADD), a2.reduceLanes(VectorOperators.ADD),
                a3.reduceLanes(VectorOperators.ADD));
    }

    @Override
    void fourTokens(
            byte[] q, int rowBytes, float[] x, int xStride, int t, int tokens,
            float[] out, int outStride, int row, int rows) {
        int blocks = cols() / BLOCK;
        int p1 = rowBytes;
        int p2 = 2 * rowBytes;
        int p3 = 3 * rowBytes;
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
        for (int b = 0, pos = 0, c = 0; b < blocks; b++, pos += BLOCK_BYTES, c += BLOCK) {
            float d0 = Float16.toFloat(Simd.getShort(q, pos));
            float d1 = Float16.toFloat(Simd.getShort(q, p1 + pos));
            float d2 = Float16.toFloat(Simd.getShort(q, p2 + pos));
            float d3 = Float16.toFloat(Simd.getShort(q, p3 + pos));
            FloatVector xl0 = FloatVector.fromArray(Simd.DOT, x, x0 + c);
            FloatVector xh0 = FloatVector.fromArray(Simd.DOT, x, x0 + c + HALF);
            FloatVector xl1 = FloatVector.fromArray(Simd.DOT, x, x1 + c);
            FloatVector xh1 = FloatVector.fromArray(Simd.DOT, x, x1 + c + HALF);
            FloatVector xl2 = FloatVector.fromArray(Simd.DOT, x, x2 + c);
            FloatVector xh2 = FloatVector.fromArray(Simd.DOT, x, x2 + c + HALF);
            FloatVector xl3 = FloatVector.fromArray(Simd.DOT, x, x3 + c);
            FloatVector xh3 = FloatVector.fromArray(Simd.DOT, x, x3 + c + HALF);
            ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, q, pos + 2);
            FloatVector lo0 = ((FloatVector) v0.and((byte) 0x0F).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d0);
            FloatVector hi0 = ((FloatVector) v0.lanewise(VectorOperators.LSHR, 4).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d0);
            a00 = lo0.fma(xl0, a00);
            a00 = hi0.fma(xh0, a00);
            a01 = lo0.fma(xl1, a01);
            a01 = hi0.fma(xh1, a01);
            a02 = lo0.fma(xl2, a02);
            a02 = hi0.fma(xh2, a02);
            a03 = lo0.fma(xl3, a03);
            a03 = hi0.fma(xh3, a03);
            ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, q, p1 + pos + 2);
            FloatVector lo1 = ((FloatVector) v1.and((byte) 0x0F).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d1);
            FloatVector hi1 = ((FloatVector) v1.lanewise(VectorOperators.LSHR, 4).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d1);
            a10 = lo1.fma(xl0, a10);
            a10 = hi1.fma(xh0, a10);
            a11 = lo1.fma(xl1, a11);
            a11 = hi1.fma(xh1, a11);
            a12 = lo1.fma(xl2, a12);
            a12 = hi1.fma(xh2, a12);
            a13 = lo1.fma(xl3, a13);
            a13 = hi1.fma(xh3, a13);
            ByteVector v2 = ByteVector.fromArray(Simd.DOT_BYTES, q, p2 + pos + 2);
            FloatVector lo2 = ((FloatVector) v2.and((byte) 0x0F).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d2);
            FloatVector hi2 = ((FloatVector) v2.lanewise(VectorOperators.LSHR, 4).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d2);
            a20 = lo2.fma(xl0, a20);
            a20 = hi2.fma(xh0, a20);
            a21 = lo2.fma(xl1, a21);
            a21 = hi2.fma(xh1, a21);
            a22 = lo2.fma(xl2, a22);
            a22 = hi2.fma(xh2, a22);
            a23 = lo2.fma(xl3, a23);
            a23 = hi2.fma(xh3, a23);
            ByteVector v3 = ByteVector.fromArray(Simd.DOT_BYTES, q, p3 + pos + 2);
            FloatVector lo3 = ((FloatVector) v3.and((byte) 0x0F).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d3);
            FloatVector hi3 = ((FloatVector) v3.lanewise(VectorOperators.LSHR, 4).sub((byte) 8)
                    .convertShape(VectorOperators.B2F, Simd.DOT, 0)).mul(d3);
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
