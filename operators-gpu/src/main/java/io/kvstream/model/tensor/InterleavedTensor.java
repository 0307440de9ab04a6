package io.kvstream.model.tensor;

import jdk.incubator.vector.VectorSpecies;

/**
 * A block format copied onto the heap for the CPU's matrix multiplies, {@link #GROUP} rows
 * interleaved element by element: for each group of rows and each block, byte 0 of every row's
 * block, then byte 1 of every row's, and so on, with the fp16 scales expanded into a float array
 * of the same order. A 16-byte load then holds one element of 16 rows, which widen into one
 * vector lane per row.
 *
 * <p>Why one row per lane: each lane accumulates its row's plain sequential sum, {@code acc =
 * fma(w[k], x[k], acc)} for {@code k = 0, 1, ...}, and a token's value is broadcast to all lanes.
 * That order does not depend on how many tokens share a step, nor on the vector width, so the
 * single-token kernel, the many-token kernel and the packed multiply for prefill all give the
 * bits of a scalar loop. And it needs no horizontal sums: a widened weight vector feeds one
 * FMA per token, with the token's value a 4-byte broadcast, where a dot product along the row
 * loads a 64-byte vector of the token for every four rows. Measured on one core, 2048 columns,
 * weights in cache: eight tokens 50 against 32 GMAC/s; streaming from memory at one token the
 * two layouts read alike (13.4-13.7 against 13.1 G weights/s).
 *
 * <p>Why on the heap at all: a kernel over the file's layout decodes each block's fp16 scale
 * from two bytes and, on Java 17, must copy rows out of the mapping first, since vectors load
 * only from heap arrays there. The heap also takes transparent huge pages, which a mapped file
 * does not. A group past the last row is filled with zero blocks; its results are never stored.
 */
abstract class InterleavedTensor extends FloatTensor {

    /** The kernels' vectors, a row per lane: the CPU backend's shape, where it has 16 lanes ({@link #fits}). */
    static final VectorSpecies<Float> F = Simd.DOT;
    static final int LANES = 16;
    /** Rows of a group: two vectors, two independent accumulator chains at one token. */
    static final int GROUP = 2 * LANES;
    /** Tokens the many-token kernels multiply each widened weight vector with. */
    static final int TOKENS = 8;
    private static final int CACHE_LINE = 64;
    /** Written by {@link #keep}, never in practice. */
    private static int touchedSink;
    /** Per-thread tokens packed for the many-token kernels. */
    private static final ThreadLocal<float[]> PACKED = ThreadLocal.withInitial(() -> new float[0]);

    private final GgmlType type;
    /** Blocks per row. */
    final int blocks;
    /** Bytes of one row's quantized elements in a block. */
    final int quantBytes;
    /** Group {@code g}, block {@code b}, byte {@code j}, row {@code r} at {@code ((g * blocks + b) * quantBytes + j) * GROUP + r}. */
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
        // A group's rows are read in one transfer and written out in order: the scattered side
        // of the transposition stays in this buffer, in cache.
        byte[] group = new byte[GROUP * rowBytes];
        for (int g = 0; g * GROUP < source.rows(); g++) {
            int n = Math.min(GROUP, source.rows() - g * GROUP);
            source.data.get(g * GROUP * rowBytes, group, 0, n * rowBytes);
            for (int b = 0; b < blocks; b++) {
                int slot = (g * blocks + b) * GROUP;
                int q = slot * quantBytes;
                for (int r = 0; r < n; r++) {
                    scales[slot + r] = Float16.toFloat(Simd.getShort(group, r * rowBytes + b * blockBytes));
                }
                for (int j = 0; j < quantBytes; j++) {
                    for (int r = 0, at = b * blockBytes + 2 + j; r < n; r++, at += rowBytes) {
                        quants[q + j * GROUP + r] = group[at];
                    }
                }
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

    /** Whether this machine's vectors have the width the kernels are written for. */
    static boolean fits() {
        return Simd.FUSED && Simd.DOT.length() == LANES;
    }

    @Override
    public final GgmlType type() {
        return type;
    }

    @Override
    public final int fusedRows() {
        return GROUP;
    }

    @Override
    public final void dequantizeRow(int row, float[] out, int offset) {
        int g = row / GROUP;
        int r = row % GROUP;
        int blockElements = cols() / blocks;
        for (int b = 0; b < blocks; b++) {
            int slot = (g * blocks + b) * GROUP;
            dequantizeBlock(quants, slot * quantBytes + r, scales[slot + r], out, offset + b * blockElements);
        }
    }

    /**
     * One row's block, its bytes {@link #GROUP} apart from {@code q[at]}, as floats: the same
     * bits the kernels' widened vectors hold.
     */
    abstract void dequantizeBlock(byte[] q, int at, float d, float[] out, int offset);

    @Override
    public void dotRows(
            int from, int n, float[] x, int xStride, int tokens, float[] out, int outStride) {
        checkGroupStart(from);
        int groupScales = blocks * GROUP;
        int groupBytes = groupScales * quantBytes;
        float[] xp = tokens > 1 ? packTokens(x, xStride, tokens) : null;
        for (int r = from; r < from + n; r += GROUP) {
            int rows = Math.min(GROUP, from + n - r);
            int qo = r / GROUP * groupBytes;
            int so = r / GROUP * groupScales;
            if (tokens > 1) {
                for (int t = 0; t < tokens; t += TOKENS) {
                    manyTokens(quants, qo, scales, so, xp, t, tokens, out, outStride, r, rows);
                }
            } else if (rows == GROUP && r + 2 * GROUP <= from + n) {
                twoGroups(quants, qo, qo + groupBytes, scales, so, so + groupScales, x, out, r);
                r += GROUP;
            } else {
                oneToken(quants, qo, scales, so, x, out, r, rows);
            }
        }
    }

    /**
     * Reads one byte of every cache line of {@code q[from, from + bytes)} and returns their sum,
     * for {@link #keep}: the many-token kernels, and Q4_0's two-group kernel, touch the next
     * block's lines this way before they work on the current one. Their arithmetic per byte is
     * heavy enough that the reorder buffer covers only a few lines ahead, so the loads of a block
     * that missed the cache went to memory a few at a time; touched together, all its lines are
     * requested at once. synth 1B's layer matrices, two threads, Java 25: eight tokens, Q8_0
     * 123-131 against 88-90 ms, Q4_0 79-89 against 71-72; one token, Q4_0 median 31.4 against
     * 29.1 ms in 7 runs each. Q8_0 at one token, with less arithmetic per byte, lost (42 against
     * 45-50 ms) and does not touch. Where the hardware prefetcher keeps up, touching costs
     * instead, so {@link TouchAhead} decides per machine, and this returns 0 where it is off.
     */
    static int touch(byte[] q, int from, int bytes) {
        if (!TouchAhead.enabled) {
            return 0;
        }
        int end = Math.min(from + bytes, q.length);
        int sum = 0;
        for (int i = from; i < end; i += CACHE_LINE) {
            sum += q[i];
        }
        return sum;
    }

    /**
     * Keeps the loads of {@link #touch} in the compiled code, which drops loads whose values
     * nothing uses. The sum of a matrix's touched bytes is never {@code Integer.MIN_VALUE}, but
     * C2 cannot know that, so nothing is written in practice (no cache line shared between threads).
     */
    static void keep(int touched) {
        if (touched == Integer.MIN_VALUE) {
            touchedSink = touched;
        }
    }

    /**
     * The tokens in groups of {@link #TOKENS}, in this thread's buffer: group {@code g}'s column
     * {@code k} of its token {@code i} at {@code [(g * cols + k) * TOKENS + i]}, tokens past the
     * last repeating it. The many-token kernels then broadcast eight consecutive floats per
     * column, at fixed offsets from one index, where eight rows of {@code x} needed eight base
     * registers that C2 did not keep; and Java 17 compiled them without its slow mode (Q4_0,
     * eight tokens: 79-80 ms in 2 of 2 JVMs against 244-279 ms unpacked).
     */
    private float[] packTokens(float[] x, int xStride, int tokens) {
        int cols = cols();
        int groups = (tokens + TOKENS - 1) / TOKENS;
        float[] xp = PACKED.get();
        if (xp.length < groups * TOKENS * cols) {
            xp = new float[groups * TOKENS * cols];
            PACKED.set(xp);
        }
        for (int g = 0; g < groups; g++) {
            for (int i = 0; i < TOKENS; i++) {
                int from = Math.min(g * TOKENS + i, tokens - 1) * xStride;
                int to = g * TOKENS * cols + i;
                for (int k = 0; k < cols; k++) {
                    xp[to + k * TOKENS] = x[from + k];
                }
            }
        }
        return xp;
    }

    /**
     * The group at {@code q[qo]} and {@code s[so]} (laid out as {@link #quants} and {@link
     * #scales}) against one token: {@code out[row + i]} for the first {@code rows} rows.
     */
    abstract void oneToken(byte[] q, int qo, float[] s, int so, float[] x, float[] out, int row, int rows);

    /**
     * As {@link #oneToken} over two whole groups, at {@code qa, sa} and {@code qb, sb}, rows from
     * {@code row}: four accumulator chains instead of two. One row's sum is a chain of dependent
     * FMAs, and while loads wait on memory, two chains leave the core too little independent work
     * to keep enough loads in flight: synth 1B's layer matrices at one token, two threads, 77
     * against 48-54 ms for Q8_0; four groups at once gained nothing more.
     */
    abstract void twoGroups(byte[] q, int qa, int qb, float[] s, int sa, int sb, float[] x, float[] out, int row);

    /**
     * As {@link #oneToken}, against tokens {@code [t, t + TOKENS)}, packed in {@code xp} by
     * {@link #packTokens} (their group starts at {@code t * cols()}): each weight vector is
     * widened once for all of them. Past the last token the last one is repeated and its
     * results dropped.
     */
    abstract void manyTokens(
            byte[] q, int qo, float[] s, int so, float[] xp, int t, int tokens,
            float[] out, int outStride, int row, int rows);

    @Override
    public final void expandFusedRows(int from, float[] out, int offset) {
        checkGroupStart(from);
        expandGroup(from / GROUP, out, offset);
    }

    /** Group {@code g} as floats, element {@code (r, k)} at {@code out[offset + k * GROUP + r]}. */
    abstract void expandGroup(int g, float[] out, int offset);

    final void checkGroupStart(int from) {
        if (from % GROUP != 0) {
            throw new IllegalArgumentException(
                    String.format("%s: rows from %d do not start a group of %d", this, from, GROUP));
        }
    }
}
