package io.kvstream.model.tensor;

import java.nio.ByteBuffer;

/** bfloat16: the upper 16 bits of a float32. */
public final class BF16Tensor extends FloatTensor {

    private final ByteBuffer data;

    public BF16Tensor(String name, int rows, int cols, ByteBuffer data) {
        super(name, rows, cols);
        this.data = Tensors.checked(this, data);
    }

    @Override
    public GgmlType type() {
        return GgmlType.BF16;
    }

    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        int cols = cols();
        int pos = row * cols * 2;
        for (int i = 0; i < cols; i++) {
            out[offset + i] = Float.intBitsToFloat((data.getShort(pos + 2 * i) & 0xFFFF) << 16);
        }
    }
}
