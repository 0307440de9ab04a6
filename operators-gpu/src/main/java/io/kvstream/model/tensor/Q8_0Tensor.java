package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.nio.ByteBuffer;

/**
 * GGML Q8_0: blocks of 32 elements, each an fp16 scale {@code d} then 32 int8 {@code q};
 * element {@code = q * d} (ggml {@code dequantize_row_q8_0}).
 */
public final class Q8_0Tensor extends FusedBlockTensor {

    private static final int BLOCK = 32;
    private static final int BLOCK_BYTES = 2 + BLOCK;

    public Q8_0Tensor(String name, int rows, int cols, ByteBuffer data) {
        super(name, rows, cols, data, BLOCK, BLOCK_BYTES);
    }

    @Override
    public GgmlType type() {
        return GgmlType.Q8_0;
    }

    /**
     * The stored blocks as they are in the file, read-only and little-endian: for backends that
     * keep Q8_0 weights quantized.
     */
    public ByteBuffer blocks() {
        return data.asReadOnlyBuffer().order(data.order());
    }

    @Override
    void dequantizeRowScalar(int row, float[] out, int offset) {
        int blocks = cols() / BLOCK;
        int pos = row * blocks * BLOCK_BYTES;
        for (int b = 0; b < blocks; b++, pos += BLOCK_BYTES) {
            float d = Float16.toFloat(data.getShort(pos));
            int o = offset + b * BLOCK;
            for (int j = 0; j < BLOCK; j++) {
                out[o + j] = data.get(pos + 2 + j) * d;
            }
        }
    }

    @Override
    void dequantizeRowVector(int row, float[] out, int offset) {
        int blocks = cols() / BLOCK;
        int rowBytes = blocks * BLOCK_BYTES;
        byte[] q = Simd.copyRow(data, row * rowBytes, rowBytes);
        for (int b = 0, pos = 0; b < blocks; b++, pos += BLOCK_BYTES) {
            FloatVector d = FloatVector.broadcast(Simd.F, Float16.toFloat(Simd.getShort(q, pos)));
            int o = offset + b * BLOCK;
            for (int j = 0; j < BLOCK; j += Simd.F.length()) {
                ((FloatVector) ByteVector.fromArray(Simd.B, q, pos + 2 + j)
                                .convertShape(VectorOperators.B2F, Simd.F, 0))
                        .mul(d)
                        .intoArray(out, o + j);
            }
        }
    }

    @Override
    public boolean hasFusedDot() {
        return Simd.FUSED;
    }

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
            for (int j = 0; j < BLOCK; j += Simd.DOT.length()) {
                FloatVector w0 = load(q, pos + 2 + j).mul(d0);
                FloatVector w1 = load(q, p1 + pos + 2 + j).mul(d1);
                FloatVector w2 = load(q, p2 + pos + 2 + j).mul(d2);
                FloatVector w3 = load(q, p3 + pos + 2 + j).mul(d3);
                FloatVector xv = FloatVector.fromArray(Simd.DOT, x, c + j);
                a0 = w0.fma(xv, a0);
                a1 = w1.fma(xv, a1);
                a2 = w2.fma(xv, a2);
                a3 = w3.fma(xv, a3);
            }
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
            for (int j = 0; j < BLOCK; j += Simd.DOT.length()) {
                FloatVector w0 = load(q, pos + 2 + j).mul(d0);
                FloatVector w1 = load(q, p1 + pos + 2 + j).mul(d1);
                FloatVector w2 = load(q, p2 + pos + 2 + j).mul(d2);
                FloatVector w3 = load(q, p3 + pos + 2 + j).mul(d3);
                FloatVector xv = FloatVector.fromArray(Simd.DOT, x, x0 + c + j);
                a00 = w0.fma(xv, a00);
                a10 = w1.fma(xv, a10);
                a20 = w2.fma(xv, a20);
                a30 = w3.fma(xv, a30);
                xv = FloatVector.fromArray(Simd.DOT, x, x1 + c + j);
                a01 = w0.fma(xv, a01);
                a11 = w1.fma(xv, a11);
                a21 = w2.fma(xv, a21);
                a31 = w3.fma(xv, a31);
                xv = FloatVector.fromArray(Simd.DOT, x, x2 + c + j);
                a02 = w0.fma(xv, a02);
                a12 = w1.fma(xv, a12);
                a22 = w2.fma(xv, a22);
                a32 = w3.fma(xv, a32);
                xv = FloatVector.fromArray(Simd.DOT, x, x3 + c + j);
                a03 = w0.fma(xv, a03);
                a13 = w1.fma(xv, a13);
                a23 = w2.fma(xv, a23);
                a33 = w3.fma(xv, a33);
            }
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

    private static FloatVector load(byte[] q, int at) {
        return Simd.widen(ByteVector.fromArray(Simd.DOT_BYTES, q, at));
    }
}
