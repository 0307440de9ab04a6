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

    /** Tokens that {@link #expandFusedRowsTimes} multiplies. */
    public static final int FUSED_TOKENS = 12;

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
    public final boolean hasFusedDot() {
        return fusedRows() > 0;
    }

    /**
     * Rows {@link #dotRows} computes together, one per vector lane; row ranges passed to it and
     * to {@link #expandFusedRows} start at multiples of this. 0 without a fused dot product.
     */
    public int fusedRows() {
        return 0;
    }

    /**
     * {@code out[t * outStride + r] = row(r) . x[t * xStride .. + cols)} for rows {@code r} in
     * {@code [from, from + n)} and tokens {@code t} in {@code [0, tokens)}, each bit for bit the
     * plain sequential sum over {@link #dequantizeRow}'s elements: {@code acc = fma(w[k], x[k],
     * acc)} for {@code k = 0, 1, ..., cols - 1}, from {@code acc = 0}. That order does not depend
     * on how many tokens share a step, which keeps a sequence's logits independent of its batch.
     * Where {@link #quantizesActivations}, the sum is that of the quantized format instead, in
     * an order just as independent of the step.
     *
     * @throws UnsupportedOperationException unless {@link #hasFusedDot()}
     */
    public void dotRows(
            int from, int n, float[] x, int xStride, int tokens, float[] out, int outStride) {
        throw new UnsupportedOperationException(type() + " tensors have no fused dot product");
    }

    /**
     * As {@link #dotRows(int, int, float[], int, int, float[], int)}, against a step's tokens
     * already quantized, which a caller does once for every row range and every matrix that
     * takes the same input.
     *
     * @throws UnsupportedOperationException unless {@link #quantizesActivations()}
     */
    public void dotRows(int from, int n, Q8_0Tokens x, float[] out, int outStride) {
        throw new UnsupportedOperationException(name() + " takes fp32 activations");
    }

    /**
     * Whether {@link #dotRows} quantizes each token's activations before it multiplies (see
     * {@link Activations#Q8_0}). Its results are then not the fp32 sum, though still the same
     * bits however many tokens share a step, and a packed multiply over {@link
     * #expandFusedRows} would not reproduce them.
     */
    public boolean quantizesActivations() {
        return false;
    }

    /**
     * Rows {@code [from, from + fusedRows())} as floats for a packed multiply, element {@code
     * (from + r, k)} at {@code out[offset + k * fusedRows() + r]}, each with {@link
     * #dequantizeRow}'s bits; rows past the last come out as zeros.
     *
     * @throws UnsupportedOperationException unless {@link #hasFusedDot()}
     */
    public void expandFusedRows(int from, float[] out, int offset) {
        throw new UnsupportedOperationException(type() + " tensors have no fused dot product");
    }

    /**
     * {@link #expandFusedRows}, and while each column sits in registers, its products with
     * {@link #FUSED_TOKENS} packed tokens, token {@code t}'s column {@code k} at {@code x[xo + k *
     * FUSED_TOKENS + t]}: row {@code from + r}'s result for token {@code t} to {@code tile[t *
     * fusedRows() + r]}, the plain sequential sum {@link #dotRows} gives. A packed multiply's
     * first group of tokens goes this way, so that widening the weights overlaps the arithmetic
     * instead of waiting on memory in a pass of its own.
     *
     * @return whether this tensor did it; if not, it wrote nothing
     */
    public boolean expandFusedRowsTimes(int from, float[] out, int offset, float[] x, int xo, float[] tile) {
        return false;
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
