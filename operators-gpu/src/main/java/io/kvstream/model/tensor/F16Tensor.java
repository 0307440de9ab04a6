package io.kvstream.model.tensor;

import java.nio.ByteBuffer;

/** IEEE half floats. */
public final class F16Tensor extends FloatTensor {

    private final ByteBuffer data;

    public F16Tensor(String name, int rows, int cols, ByteBuffer data) {
        super(name, rows, cols);
        this.data = Tensors.checked(this, data);
    }

    @Override
    public GgmlType type() {
        return GgmlType.F16;
    }

    /** The stored half floats, read-only and little-endian: for backends that keep them as they are. */
    public ByteBuffer halves() {
        return data.asReadOnlyBuffer().order(data.order());
    }

    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        // Java 17's Vector API cannot widen half floats; a table lookup per element is the
        // fastest exact conversion available.
        int cols = cols();
        int pos = row * cols * 2;
        for (int i = 0; i < cols; i++) {
            out[offset + i] = Float16.toFloat(data.getShort(pos + 2 * i));
        }
    }
}
