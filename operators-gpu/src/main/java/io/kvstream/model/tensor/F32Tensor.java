package io.kvstream.model.tensor;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;

/** Plain float32 elements. */
public final class F32Tensor extends FloatTensor {

    private final FloatBuffer data;

    public F32Tensor(String name, int rows, int cols, ByteBuffer data) {
        super(name, rows, cols);
        this.data = Tensors.checked(this, data).asFloatBuffer();
    }

    @Override
    public GgmlType type() {
        return GgmlType.F32;
    }

    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        data.get(row * cols(), out, offset, cols());
    }
}
