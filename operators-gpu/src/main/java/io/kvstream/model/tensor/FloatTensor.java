package io.kvstream.model.tensor;

/**
 * A weight matrix of {@code rows x cols} elements (a vector is one row), stored in one of GGML's
 * formats and read in place from a memory-mapped file.
 *
 * <p>The forward pass reads weights one row at a time: {@link #dequantizeRow} expands a row into
 * floats once per step, and every token of the batch is then multiplied against that row, so that
 * a step over many sequences reads the weights once. One final subclass per storage format
 * implements the expansion with the Vector API.
 */
public abstract class FloatTensor {

    private final String name;
    private final int rows;
    private final int cols;

    protected FloatTensor(String name, int rows, int cols) {
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException(
                    String.format("tensor %s has bad shape %d x %d", name, rows, cols));
        }
        this.name = name;
        this.rows = rows;
        this.cols = cols;
    }

    /** Name of the tensor in its file, for error messages. */
    public final String name() {
        return name;
    }

    public final int rows() {
        return rows;
    }

    public final int cols() {
        return cols;
    }

    public abstract GgmlType type();

    /** Writes row {@code row} as floats into {@code out[offset .. offset + cols)}. */
    public abstract void dequantizeRow(int row, float[] out, int offset);

    /**
     * Whether {@link #dotRows} reads this format's blocks straight into vector registers. When
     * it does, a step multiplies in place instead of expanding every weight into memory first and
     * reading it back, which is what bounds decode.
     */
    public boolean hasFusedDot() {
        return false;
    }

    /**
     * {@code out[t * outStride + r] = row(r) . x[t * xStride .. + cols)} for rows {@code r} in
     * {@code [from, from + n)} and tokens {@code t} in {@code [0, tokens)}, each bit for bit what
     * {@link #dequantizeRow} followed by the CPU backend's dot product gives: one
     * accumulator of {@code FloatVector.SPECIES_PREFERRED} lanes, {@code w.fma(x, acc)} over the
     * columns in order, then {@code reduceLanes(ADD)}. Keeping that order is what makes a
     * sequence's logits independent of how many tokens share its step.
     *
     * @throws UnsupportedOperationException unless {@link #hasFusedDot()}
     */
    public void dotRows(
            int from, int n, float[] x, int xStride, int tokens, float[] out, int outStride) {
        throw new UnsupportedOperationException(type() + " tensors have no fused dot product");
    }

    /** Element {@code (row, col)}; slow, for tests and one-off reads. */
    public float get(int row, int col) {
        float[] tmp = new float[cols];
        dequantizeRow(row, tmp, 0);
        return tmp[col];
    }

    /** Bytes the tensor takes in its file. */
    public long byteSize() {
        return type().byteSize((long) rows * cols);
    }

    @Override
    public String toString() {
        return String.format("%s[%s %dx%d]", name, type(), rows, cols);
    }
}
