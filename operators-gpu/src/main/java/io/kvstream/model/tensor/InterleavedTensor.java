package io.kvstream.model.tensor;

/**
 * A block format copied onto the heap for the CPU's dot products, rows interleaved four at a
 * time: for each group of {@link Simd#DOT_ROWS} rows, block 0 of each row, then block 1 of each,
 * and so on, with the fp16 scales expanded into a float array beside the quantized elements.
 *
 * <p>Why not read the mapped file: a kernel over the file's layout decodes each block's fp16
 * scale from two bytes, bounds-checks four row streams separately, and on Java 17 must copy the
 * rows out of the mapping first, since vectors load only from heap arrays there. Interleaved on
 * the heap, the four rows' next blocks sit at one running index with constant offsets, so C2
 * checks bounds once per block and the loads stream straight from memory. A 2048-column Q8_0
 * matrix against one token on one thread: 10.9 G weights/s from the file layout in cache against
 * 17.4 interleaved. The heap also takes transparent huge pages, which a mapped file does not.
 *
 * <p>A group past the last row is filled with zero blocks; its results are never stored.
 */
abstract class InterleavedTensor extends FloatTensor {

    static final int GROUP = Simd.DOT_ROWS;

    private final GgmlType type;
    /** Blocks per row. */
    final int blocks;
    /** Bytes of one row's quantized elements in a block. */
    final int quantBytes;
    /** Group {@code g}, block {@code b}, row {@code r} at {@code ((g * blocks + b) * GROUP + r) * quantBytes}. */
    final byte[] quants;
    /** Group {@code g}, block {@code b}, row {@code r} at {@code (g * blocks + b) * GROUP + r}. */
    final float[] scales;

    /**
     * @param blockElements elements per block
     * @param quantBytes bytes of a block after its fp16 scale, which comes first
     */
    InterleavedTensor(BlockTensor source, int blockElements, int quantBytes) {
        super(source.name(), source.rows(), source.cols());
        this.type = source.type();
        this.blocks = source.cols() / blockElements;
        this.quantBytes = quantBytes;
        long slots = slots(source.rows(), source.cols(), blockElements);
        if (slots * quantBytes > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(
                    String.format("tensor %s is too large to hold in one array", source));
        }
        this.quants = new byte[(int) (slots * quantBytes)];
        this.scales = new float[(int) slots];
        int blockBytes = 2 + quantBytes;
        int rowBytes = blocks * blockBytes;
        byte[] row = new byte[rowBytes];
        for (int r = 0; r < source.rows(); r++) {
            source.data.get(r * rowBytes, row, 0, rowBytes);
            int slot = rowSlot(r);
            for (int b = 0, pos = 0; b < blocks; b++, pos += blockBytes, slot += GROUP) {
                scales[slot] = Float16.toFloat(Simd.getShort(row, pos));
                System.arraycopy(row, pos + 2, quants, slot * quantBytes, quantBytes);
            }
        }
    }

    /** Block slots of a {@code rows x cols} matrix, its rows padded to whole groups. */
    private static long slots(int rows, int cols, int blockElements) {
        return (rows + GROUP - 1L) / GROUP * GROUP * (cols / blockElements);
    }

    /** Bytes the copy of a {@code rows x cols} matrix takes on the heap. */
    static long heapBytes(int rows, int cols, int blockElements, int quantBytes) {
        return slots(rows, cols, blockElements) * (quantBytes + Float.BYTES);
    }

    @Override
    public final GgmlType type() {
        return type;
    }

    @Override
    public final boolean hasFusedDot() {
        return true;
    }

    /**
     * Whether a group is copied into a per-thread buffer before it is multiplied. A kernel that
     * reads memory directly keeps as many cache lines in flight as the lines its instruction
     * window spans, and the hardware prefetchers did little more on this machine; a bulk copy
     * keeps the core's fill buffers full. Q8_0 spends few instructions per line and streams
     * faster in place (17.5 against 13.2 G weights/s on two threads); Q4_0 unpacks twice the
     * elements per line and streams twice as fast copied (15-16.7 against 8.7).
     */
    abstract boolean copiesGroups();

    @Override
    public final void dotRows(
            int from, int n, float[] x, int xStride, int tokens, float[] out, int outStride) {
        if (from % GROUP != 0) {
            throw new IllegalArgumentException(
                    String.format("%s: rows from %d do not start a group of %d", this, from, GROUP));
        }
        int groupSlots = blocks * GROUP;
        boolean copy = copiesGroups();
        byte[] q = copy ? Simd.rowBuffer(groupSlots * quantBytes) : quants;
        float[] s = copy ? Simd.scaleBuffer(groupSlots) : scales;
        for (int r = from; r < from + n; r += GROUP) {
            int rows = Math.min(GROUP, from + n - r);
            int slot = r / GROUP * groupSlots;
            if (copy) {
                System.arraycopy(quants, slot * quantBytes, q, 0, groupSlots * quantBytes);
                System.arraycopy(scales, slot, s, 0, groupSlots);
                slot = 0;
            }
            if (tokens == 1) {
                oneToken(q, s, slot, x, out, r, rows);
            } else {
                for (int t = 0; t < tokens; t += Simd.DOT_TOKENS) {
                    fourTokens(q, s, slot, x, xStride, t, tokens, out, outStride, r, rows);
                }
            }
        }
    }

    /**
     * The group whose first block is at {@code slot} of {@code q} and {@code s} (laid out as
     * {@link #quants} and {@link #scales}) against one token; rows past {@code rows} dropped.
     */
    abstract void oneToken(byte[] q, float[] s, int slot, float[] x, float[] out, int row, int rows);

    /**
     * As {@link #oneToken}, against tokens {@code [t, t + 4)}: each weight vector is widened
     * once for four tokens. Past the last token the last one is repeated and its results dropped.
     */
    abstract void fourTokens(
            byte[] q, float[] s, int slot, float[] x, int xStride, int t, int tokens,
            float[] out, int outStride, int row, int rows);

    /** The slot of {@code row}'s first block. */
    final int rowSlot(int row) {
        return row / GROUP * blocks * GROUP + row % GROUP;
    }
}
