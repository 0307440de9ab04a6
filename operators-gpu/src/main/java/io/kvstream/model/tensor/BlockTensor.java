package io.kvstream.model.tensor;

import java.nio.ByteBuffer;

/**
 * A block-quantized matrix read in place from its file. Each format expands a row twice over:
 * a scalar path written line for line from ggml's {@code dequantize_row_*}, which is the
 * reference, and a vector path that must give the same bits; machines without 256-bit vectors
 * (or {@code -Dkvstream.simd=false}) take the scalar one.
 */
abstract class BlockTensor extends FloatTensor {

    /** The tensor's bytes, little-endian, exactly its size. */
    protected final ByteBuffer data;

    BlockTensor(String name, int rows, int cols, ByteBuffer data) {
        super(name, rows, cols);
        this.data = Tensors.checked(this, data);
    }

    @Override
    public final void dequantizeRow(int row, float[] out, int offset) {
        if (Simd.ENABLED) {
            dequantizeRowVector(row, out, offset);
        } else {
            dequantizeRowScalar(row, out, offset);
        }
    }

    abstract void dequantizeRowScalar(int row, float[] out, int offset);

    abstract void dequantizeRowVector(int row, float[] out, int offset);
}
