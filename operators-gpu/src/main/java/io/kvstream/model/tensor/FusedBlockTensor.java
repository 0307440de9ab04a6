package io.kvstream.model.tensor;

import java.nio.ByteBuffer;

/**
 * A block format whose dot products widen its blocks in registers, four rows at a time: the rows
 * are copied out of the file together (see {@link Simd#copyRows}), then multiplied by one token
 * or by four at once. Each format writes its own two kernels, whole: a vector handed between
 * methods that C2 does not inline is boxed.
 */
abstract class FusedBlockTensor extends BlockTensor {

    private final int rowBytes;

    FusedBlockTensor(String name, int rows, int cols, ByteBuffer data, int blockElements, int blockBytes) {
        super(name, rows, cols, data);
        this.rowBytes = cols / blockElements * blockBytes;
    }

    @Override
    public final void dotRows(
            int from, int n, float[] x, int xStride, int tokens, float[] out, int outStride) {
        for (int r = 0; r < n; r += Simd.DOT_ROWS) {
            int rows = Math.min(Simd.DOT_ROWS, n - r);
            byte[] q = Simd.copyRows(data, from + r, rows, rowBytes);
            if (tokens == 1) {
                oneToken(q, rowBytes, x, out, from + r, rows);
            } else {
                for (int t = 0; t < tokens; t += Simd.DOT_TOKENS) {
                    fourTokens(q, rowBytes, x, xStride, t, tokens, out, outStride, from + r, rows);
                }
            }
        }
    }

    /** {@link Simd#DOT_ROWS} rows of {@code rowBytes} each (from the copy {@code q}) against one token. */
    abstract void oneToken(byte[] q, int rowBytes, float[] x, float[] out, int row, int rows);

    /**
     * {@link Simd#DOT_ROWS} rows against tokens {@code [t, t + 4)}: each weight vector is widened
     * once for four tokens. Past the last token the last one is repeated and its results dropped.
     */
    abstract void fourTokens(
            byte[] q, int rowBytes, float[] x, int xStride, int t, int tokens,
            float[] out, int outStride, int row, int rows);
}
