package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.nio.ByteBuffer;

/**
 * GGML Q4_K: super-blocks of 256 elements, 144 bytes: fp16 {@code d}, fp16 {@code dmin}, 12
 * bytes packing eight 6-bit scales and eight 6-bit mins, then 128 bytes of nibbles. Each group
 * of 64 elements takes 32 bytes: the low nibbles are the first 32 elements (sub-block
 * {@code 2g}), the high nibbles the next 32 (sub-block {@code 2g+1}); element {@code = d * sc *
 * q - dmin * m} (ggml {@code dequantize_row_q4_K} and {@code get_scale_min_k4}).
 */
public final class Q4KTensor extends BlockTensor {

    private static final int BLOCK = 256;
    private static final int BLOCK_BYTES = 2 + 2 + 12 + BLOCK / 2;
    private static final int SCALES = 4;
    private static final int QS = 16;

    public Q4KTensor(String name, int rows, int cols, ByteBuffer data) {
        super(name, rows, cols, data);
    }

    @Override
    public GgmlType type() {
        return GgmlType.Q4_K;
    }

    /** 6-bit scale of sub-block {@code j} (0..7) of the block at {@code pos}. */
    private int scale(int pos, int j) {
        int s = pos + SCALES;
        if (j < 4) {
            return data.get(s + j) & 63;
        }
        return (data.get(s + j + 4) & 0x0F) | (((data.get(s + j - 4) & 0xFF) >>> 6) << 4);
    }

    /** 6-bit min of sub-block {@code j} (0..7) of the block at {@code pos}. */
    private int min(int pos, int j) {
        int s = pos + SCALES;
        if (j < 4) {
            return data.get(s + j + 4) & 63;
        }
        return ((data.get(s + j + 4) & 0xFF) >>> 4) | (((data.get(s + j) & 0xFF) >>> 6) << 4);
    }

    @Override
    void dequantizeRowScalar(int row, float[] out, int offset) {
        int blocks = cols() / BLOCK;
        int pos = row * blocks * BLOCK_BYTES;
        int o = offset;
        for (int b = 0; b < blocks; b++, pos += BLOCK_BYTES) {
            float d = Float16.toFloat(data.getShort(pos));
            float dmin = Float16.toFloat(data.getShort(pos + 2));
            int q = pos + QS;
            for (int g = 0; g < 4; g++, q += 32) {
                float d1 = d * scale(pos, 2 * g);
                float m1 = dmin * min(pos, 2 * g);
                float d2 = d * scale(pos, 2 * g + 1);
                float m2 = dmin * min(pos, 2 * g + 1);
                for (int l = 0; l < 32; l++) {
                    out[o + l] = d1 * (data.get(q + l) & 0x0F) - m1;
                }
                for (int l = 0; l < 32; l++) {
                    out[o + 32 + l] = d2 * ((data.get(q + l) & 0xFF) >>> 4) - m2;
                }
                o += 64;
            }
        }
    }

    @Override
    void dequantizeRowVector(int row, float[] out, int offset) {
        int blocks = cols() / BLOCK;
        int rowBytes = blocks * BLOCK_BYTES;
        int base = row * rowBytes;
        byte[] bytes = Simd.copyRow(data, base, rowBytes);
        int o = offset;
        for (int b = 0, at = 0; b < blocks; b++, at += BLOCK_BYTES) {
            int pos = base + at;
            float d = Float16.toFloat(Simd.getShort(bytes, at));
            float dmin = Float16.toFloat(Simd.getShort(bytes, at + 2));
            int q = at + QS;
            for (int g = 0; g < 4; g++, q += 32) {
                FloatVector d1 = FloatVector.broadcast(Simd.F, d * scale(pos, 2 * g));
                FloatVector m1 = FloatVector.broadcast(Simd.F, dmin * min(pos, 2 * g));
                FloatVector d2 = FloatVector.broadcast(Simd.F, d * scale(pos, 2 * g + 1));
                FloatVector m2 = FloatVector.broadcast(Simd.F, dmin * min(pos, 2 * g + 1));
                for (int l = 0; l < 32; l += Simd.F.length()) {
                    ByteVector v = ByteVector.fromArray(Simd.B, bytes, q + l);
                    ((FloatVector)
                                    v.and((byte) 0x0F)
                                            .convertShape(VectorOperators.B2F, Simd.F, 0))
                            .mul(d1)
                            .sub(m1)
                            .intoArray(out, o + l);
                    ((FloatVector)
                                    v.lanewise(VectorOperators.LSHR, 4)
                                            .convertShape(VectorOperators.B2F, Simd.F, 0))
                            .mul(d2)
                            .sub(m2)
                            .intoArray(out, o + 32 + l);
                }
                o += 64;
            }
        }
    }
}
