package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.nio.ByteBuffer;

/**
 * GGML Q8_0: blocks of 32 elements, each an fp16 scale {@code d} then 32 int8 {@code q};
 * element {@code = q * d} (ggml {@code dequantize_row_q8_0}).
 */
public final class Q8_0Tensor extends BlockTensor {

    private static final int BLOCK = 32;
    private static final int BLOCK_BYTES = 2 + BLOCK;

    public Q8_0Tensor(String name, int rows, int cols, ByteBuffer data) {
        super(name, rows, cols, data);
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
}
