package io.kvstream.model.tensor;

/**
 * Produces a matrix one row at a time, so that writers can stream tensors far larger than the
 * heap.
 */
@FunctionalInterface
public interface RowSource {

    /** Writes row {@code row} into {@code out[0 .. cols)}. */
    void fill(int row, float[] out);

    /** The rows of an existing tensor. */
    static RowSource of(FloatTensor tensor) {
        return (row, out) -> tensor.dequantizeRow(row, out, 0);
    }
}
