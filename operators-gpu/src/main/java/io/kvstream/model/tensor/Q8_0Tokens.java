package io.kvstream.model.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * A step's activations quantized as llama.cpp quantizes them before its Q4_0 dot products
 * (ggml's {@code quantize_row_q8_0}, x86 path): per block of 32 elements, {@code d = max|x| /
 * 127} stored as fp16, {@code q = rint(x * 127 / max|x|)} in {@code [-127, 127]}. For {@link
 * FloatTensor#dotRows(int, int, Q8_0Tokens, float[], int)}: {@code MatMul} quantizes a step's
 * input once per multiply (once for a layer's q, k and v, once for gate and up), its threads
 * sharing the groups of tokens, then every thread's row ranges read it.
 *
 * <p>Layout: tokens are grouped as {@link InterleavedTensor}'s many-token kernels broadcast them,
 * {@code width = }{@link InterleavedTensor#TOKENS} at a time (1 for a single token): group {@code g}'s element {@code k} of its
 * token {@code i} at {@code q[(g * cols + k) * width + i]}, block {@code b}'s scale at {@code
 * d[(g * blocks + b) * width + i]}; tokens past the last repeat it. Also kept per block, for
 * {@link Q4_0xQ8_0Dot}'s integer kernels: the value their 16-bit accumulator starts from, {@code
 * -8} times the sum of the elements whose nibble the kernel leaves unsigned (see {@link
 * Q4_0x32Tensor#SIGNED_HIGH}), so that the block's sum ends as {@code sum((nibble - 8) * q)}
 * without a subtraction per weight.
 *
 * <p>One per caller, grown as needed and reused: quantizing allocates nothing in steady state.
 * Not for concurrent use, but for {@link #quantizeGroups} and {@link #quantizePairGroups} over
 * disjoint groups after one {@link #begin} or {@link #beginPairs}.
 */
public final class Q8_0Tokens {

    static final int BLOCK = 32;
    private static final int HALF = BLOCK / 2;
    private static final VectorSpecies<Float> F = InterleavedTensor.F;

    /** Tokens a group of the pair layout holds: {@link Q4_0Pairs}' kernel's register block. */
    static final int PAIR_TOKENS = 5;
    /** Rows that the kernel for tokens in pairs multiplies together: row ranges in whole multiples of it fill its lanes. */
    public static final int PAIR_ROWS = Q4_0Pairs.ROWS;
    /**
     * Whether steps of many tokens go through {@link #quantizePairs} and its kernel: Java 25 and
     * later, on 512-bit vectors (see {@link Q4_0Pairs}). Decided here, so that Java 17 and 21 never
     * load that class: what they run stays as it was.
     */
    public static final boolean PAIRS = Runtime.version().feature() >= 25 && Q4_0xQ8_0Dot.fits();

    short[] q = new short[0];
    float[] d = new float[0];
    short[] start = new short[0];
    /** The pair layout's elements (see {@link #quantizePairs}); {@link #q} and {@link #start} are stale then. */
    int[] pairs = new int[0];
    /** Whether the last call was {@link #quantizePairs}. */
    boolean paired;
    int tokens;
    int cols;
    /** Tokens of a group in the layout of {@link #quantize}. */
    private int width;

    /**
     * Quantizes {@code tokens} rows of {@code x}, token {@code t} at {@code x[t * xStride .. +
     * cols)}, replacing what this held.
     */
    public void quantize(float[] x, int xStride, int tokens, int cols) {
        quantizeGroups(x, xStride, 0, begin(tokens, cols));
    }

    /**
     * Makes room for {@code tokens} tokens of {@code cols} columns, replacing what this held, and
     * returns their groups: {@link #quantizeGroups} over all of them, in any order and from any
     * threads, completes what {@link #quantize} does. Groups write disjoint parts of the arrays,
     * so a step's threads can share the work, which the caller otherwise does while they wait.
     */
    public int begin(int tokens, int cols) {
        checkShape(tokens, cols);
        this.tokens = tokens;
        this.cols = cols;
        this.paired = false;
        // Tokens a group holds: as many as the many-token kernels take, or the one token.
        this.width = tokens > 1 ? InterleavedTensor.TOKENS : 1;
        int groups = (tokens + width - 1) / width;
        int blocks = cols / BLOCK;
        if (q.length < groups * width * cols) {
            q = new short[groups * width * cols];
        }
        if (d.length < groups * width * blocks) {
            d = new float[groups * width * blocks];
        }
        // Apart from d, which beginPairs grows alone.
        if (start.length < groups * width * blocks) {
            start = new short[groups * width * blocks];
        }
        return groups;
    }

    /** Groups {@code [from, to)} of the tokens {@link #begin} made room for, from {@code x} as {@link #quantize} takes it. */
    public void quantizeGroups(float[] x, int xStride, int from, int to) {
        int blocks = cols / BLOCK;
        for (int g = from; g < to; g++) {
            for (int i = 0; i < width; i++) {
                int row = Math.min(g * width + i, tokens - 1) * xStride;
                for (int b = 0; b < blocks; b++) {
                    block(x, row + b * BLOCK, (g * cols + b * BLOCK) * width + i, (g * blocks + b) * width + i, width);
                }
            }
        }
    }

    /**
     * As {@link #quantize}, in the layout of {@link Q4_0Pairs}' kernel for steps of many tokens:
     * tokens in groups of {@link #PAIR_TOKENS}, and elements {@code j} and {@code j + 16} of a
     * block (the two nibbles of a Q4_0 byte) in one int, {@code j} in the low 16 bits. Group
     * {@code g}, block {@code b}, token {@code i}, pair {@code j} at {@code pairs[((g * blocks + b)
     * * PAIR_TOKENS + i) * 16 + j]}, its scale at {@code d[(g * blocks + b) * PAIR_TOKENS + i]};
     * tokens past the last repeat it. The same numbers as {@link #quantize} ({@link
     * Q4_0Pairs#quantizeBlock} says how).
     *
     * @throws UnsupportedOperationException unless {@link #PAIRS}
     */
    public void quantizePairs(float[] x, int xStride, int tokens, int cols) {
        quantizePairGroups(x, xStride, 0, beginPairs(tokens, cols));
    }

    /**
     * As {@link #begin}, for {@link #quantizePairs}: its groups of {@link #PAIR_TOKENS} tokens go
     * through {@link #quantizePairGroups}.
     *
     * @throws UnsupportedOperationException unless {@link #PAIRS}
     */
    public int beginPairs(int tokens, int cols) {
        if (!PAIRS) {
            throw new UnsupportedOperationException("no kernel for tokens in pairs in this JVM; see Q8_0Tokens.PAIRS");
        }
        checkShape(tokens, cols);
        this.tokens = tokens;
        this.cols = cols;
        this.paired = true;
        int groups = (tokens + PAIR_TOKENS - 1) / PAIR_TOKENS;
        int slots = groups * PAIR_TOKENS * (cols / BLOCK);
        if (pairs.length < slots * HALF) {
            pairs = new int[slots * HALF];
        }
        if (d.length < slots) {
            d = new float[slots];
        }
        return groups;
    }

    /** As {@link #quantizeGroups}, for the groups {@link #beginPairs} made room for. */
    public void quantizePairGroups(float[] x, int xStride, int from, int to) {
        int blocks = cols / BLOCK;
        for (int g = from; g < to; g++) {
            for (int i = 0; i < PAIR_TOKENS; i++) {
                int row = Math.min(g * PAIR_TOKENS + i, tokens - 1) * xStride;
                for (int b = 0; b < blocks; b++) {
                    int slot = (g * blocks + b) * PAIR_TOKENS + i;
                    d[slot] = Q4_0Pairs.quantizeBlock(x, row + b * BLOCK, pairs, slot * HALF);
                }
            }
        }
    }

    /** Whether this holds {@code tokens} tokens of {@code cols} columns, quantized in pairs or not. */
    public boolean holds(int tokens, int cols, boolean pairs) {
        return this.tokens == tokens && this.cols == cols && this.paired == pairs;
    }

    private static void checkShape(int tokens, int cols) {
        if (tokens <= 0 || cols % BLOCK != 0) {
            // Not Preconditions: its varargs would allocate on every step.
            throw new IllegalArgumentException(tokens + " tokens of " + cols + " columns");
        }
    }

    private void block(float[] x, int xo, int qo, int slot, int width) {
        FloatVector max = FloatVector.zero(F);
        for (int j = 0; j < BLOCK; j += F.length()) {
            max = max.max(FloatVector.fromArray(F, x, xo + j).abs());
        }
        // A maximum is exact in any order. The rounding stays scalar: Java 17 compiles the
        // vector float-to-int conversion into a call (2.2 against 129 ns an element).
        float m = max.reduceLanes(VectorOperators.MAX);
        float scale = m != 0f ? 127f / m : 0f;
        int low = 0;
        int high = 0;
        for (int j = 0; j < BLOCK; j++) {
            int v = (int) Math.rint(x[xo + j] * scale);
            q[qo + j * width] = (short) v;
            if (j < HALF) {
                low += v;
            } else {
                high += v;
            }
        }
        d[slot] = Float16.toFloat(Float16.fromFloat(m / 127f));
        start[slot] = (short) (-8 * (Q4_0x32Tensor.SIGNED_HIGH ? low : low + high));
    }
}
