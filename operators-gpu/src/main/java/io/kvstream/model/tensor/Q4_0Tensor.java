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
public final class Q4_0Tensor extends BlockTensor {

    private static final int BLOCK = 32;
    private static final int BLOCK_BYTES = 2 + BLOCK / 2;

    public Q4_0Tensor(String name, int rows, int cols, ByteBuffer data) {
        super(name, rows, cols, data);
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

    @Override
    public boolean hasFusedDot() {
        return Simd.FUSED;
    }

    @Override
    public void dotRows(int from, int n, float[] x, int xo, float[] out, int oo) {
        int blocks = cols() / BLOCK;
        int rowBytes = blocks * BLOCK_BYTES;
        int p1 = rowBytes;
        int p2 = 2 * rowBytes;
        int p3 = 3 * rowBytes;
        int step = Simd.DOT.length();
        for (int r = 0; r < n; r += Simd.DOT_ROWS) {
            int rows = Math.min(Simd.DOT_ROWS, n - r);
            byte[] q = Simd.copyRows(data, from + r, rows, rowBytes);
            FloatVector a0 = FloatVector.zero(Simd.DOT);
            FloatVector a1 = FloatVector.zero(Simd.DOT);
            FloatVector a2 = FloatVector.zero(Simd.DOT);
            FloatVector a3 = FloatVector.zero(Simd.DOT);
            for (int b = 0, pos = 0, c = xo; b < blocks; b++, pos += BLOCK_BYTES, c += BLOCK) {
                float d0 = Float16.toFloat(Simd.getShort(q, pos));
                float d1 = Float16.toFloat(Simd.getShort(q, p1 + pos));
                float d2 = Float16.toFloat(Simd.getShort(q, p2 + pos));
                float d3 = Float16.toFloat(Simd.getShort(q, p3 + pos));
                // Columns in order: the low nibbles are elements 0..15, the high ones 16..31.
                for (int j = 0; j < BLOCK / 2; j += step) {
                    FloatVector xv = FloatVector.fromArray(Simd.DOT, x, c + j);
                    a0 = low(q, pos + 2 + j).mul(d0).fma(xv, a0);
                    a1 = low(q, p1 + pos + 2 + j).mul(d1).fma(xv, a1);
                    a2 = low(q, p2 + pos + 2 + j).mul(d2).fma(xv, a2);
                    a3 = low(q, p3 + pos + 2 + j).mul(d3).fma(xv, a3);
                }
                for (int j = 0; j < BLOCK / 2; j += step) {
                    FloatVector xv = FloatVector.fromArray(Simd.DOT, x, c + BLOCK / 2 + j);
                    a0 = high(q, pos + 2 + j).mul(d0).fma(xv, a0);
                    a1 = high(q, p1 + pos + 2 + j).mul(d1).fma(xv, a1);
                    a2 = high(q, p2 + pos + 2 + j).mul(d2).fma(xv, a2);
                    a3 = high(q, p3 + pos + 2 + j).mul(d3).fma(xv, a3);
                }
            }
            Simd.store(out, oo + r, rows, a0, a1, a2, a3);
        }
    }

    private static FloatVector low(byte[] q, int at) {
        return Simd.widen(ByteVector.fromArray(Simd.DOT_BYTES, q, at).and((byte) 0x0F).sub((byte) 8));
    }

    private static FloatVector high(byte[] q, int at) {
        return Simd.widen(
                ByteVector.fromArray(Simd.DOT_BYTES, q, at).lanewise(VectorOperators.LSHR, 4).sub((byte) 8));
    }
}
