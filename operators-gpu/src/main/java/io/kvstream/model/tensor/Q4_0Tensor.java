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
}
