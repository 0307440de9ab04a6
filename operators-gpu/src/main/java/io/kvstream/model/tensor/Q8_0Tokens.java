package io.kvstream.model.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * A step's activations quantized as llama.cpp quantizes them before its Q4_0 dot products
 * (ggml's {@code quantize_row_q8_0}, x86 path): per block of 32 elements, {@code d = max|x| /
 * 127} stored as fp16, {@code q = rint(x * 127 / max|x|)} in {@code [-127, 127]}. For {@link
 * FloatTensor#dotRows(int, int, Q8_0Tokens, float[], int)}: {@code MatMul} quantizes a step's
 * input once per multiply, then every thread's row ranges read it.
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
 * Not for concurrent use.
 */
public final class Q8_0Tokens {

    static final int BLOCK = 32;
    private static final int HALF = BLOCK / 2;
    private static final VectorSpecies<Float> F = InterleavedTensor.F;
    /** Half a block of floats: {@link #quantizePairs}' vectors (only called where vectors have 512 bits). */
    private static final VectorSpecies<Float> F512 = FloatVector.SPECIES_512;
    private static final VectorSpecies<Integer> I512 = IntVector.SPECIES_512;
    /** {@code 1.5 * 2^23}: added to a float of magnitude under {@code 2^22}, rounds it to an integer (see {@link #quantizePairs}). */
    private static final float ROUND = 0x1.8p23f;
    private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);

    /** Tokens a group of the pair layout holds: {@link Q4_0Pairs}' kernel's register block. */
    static final int PAIR_TOKENS = 5;
    /** Rows that the kernel for tokens in pairs multiplies together: row ranges in whole multiples of it fill its lanes. */
    public static final int PAIR_ROWS = Q4_0Pairs.ROWS;
    /** Whether steps of many tokens go through {@link #quantizePairs} and its kernel (see {@link Q4_0Pairs#FITS}). */
    public static final boolean PAIRS = Q4_0Pairs.FITS;

    short[] q = new short[0];
    float[] d = new float[0];
    short[] start = new short[0];
    /** The pair layout's elements (see {@link #quantizePairs}); {@link #q} and {@link #start} are stale then. */
    int[] pairs = new int[0];
    /** Whether the last call was {@link #quantizePairs}. */
    boolean paired;
    int tokens;
    int cols;
    /** One block's quantized elements, before they go to their layout. */
    private final short[] blockQ = new short[BLOCK];
    /** {@link #block}'s scale; the sums of its low and high halves are in {@link #low} and {@link #high}. */
    private float blockD;
    private int low;
    private int high;

    /**
     * Quantizes {@code tokens} rows of {@code x}, token {@code t} at {@code x[t * xStride .. +
     * cols)}, replacing what this held.
     */
    public void quantize(float[] x, int xStride, int tokens, int cols) {
        check(tokens, cols);
        this.tokens = tokens;
        this.cols = cols;
        this.paired = false;
        // Tokens a group holds: as many as the many-token kernels take, or the one token.
        int width = tokens > 1 ? InterleavedTensor.TOKENS : 1;
        int groups = (tokens + width - 1) / width;
        int blocks = cols / BLOCK;
        if (q.length < groups * width * cols) {
            q = new short[groups * width * cols];
        }
        if (d.length < groups * width * blocks) {
            d = new float[groups * width * blocks];
        }
        if (start.length < groups * width * blocks) {
            start = new short[groups * width * blocks];
        }
        for (int g = 0; g < groups; g++) {
            for (int i = 0; i < width; i++) {
                int from = Math.min(g * width + i, tokens - 1) * xStride;
                for (int b = 0; b < blocks; b++) {
                    block(x, from + b * BLOCK);
                    int qo = (g * cols + b * BLOCK) * width + i;
                    for (int j = 0; j < BLOCK; j++) {
                        q[qo + j * width] = blockQ[j];
                    }
                    int slot = (g * blocks + b) * width + i;
                    d[slot] = blockD;
                    start[slot] = (short) (-8 * (Q4_0x32Tensor.SIGNED_HIGH ? low : low + high));
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
     * tokens past the last repeat it.
     *
     * <p>The same numbers as {@link #quantize}, in vectors: {@code rint(v)} for {@code |v| <=
     * 127} is {@code (v + 1.5 * 2^23) - 1.5 * 2^23}, the float addition rounding to the nearest
     * integer, ties to even, as {@code rint} does; so the sum's low mantissa bits are the integer,
     * without the float-to-int conversion that Java 17 compiles into a call. At a prefill's
     * scale the scalar loop was a sixth of the calling thread's time.
     */
    public void quantizePairs(float[] x, int xStride, int tokens, int cols) {
        if (!PAIRS) {
            throw new UnsupportedOperationException("no kernel for tokens in pairs in this JVM; see Q8_0Tokens.PAIRS");
        }
        check(tokens, cols);
        this.tokens = tokens;
        this.cols = cols;
        this.paired = true;
        int groups = (tokens + PAIR_TOKENS - 1) / PAIR_TOKENS;
        int blocks = cols / BLOCK;
        int slots = groups * PAIR_TOKENS * blocks;
        if (pairs.length < slots * HALF) {
            pairs = new int[slots * HALF];
        }
        if (d.length < slots) {
            d = new float[slots];
        }
        for (int g = 0; g < groups; g++) {
            for (int i = 0; i < PAIR_TOKENS; i++) {
                int from = Math.min(g * PAIR_TOKENS + i, tokens - 1) * xStride;
                for (int b = 0; b < blocks; b++) {
                    int slot = (g * blocks + b) * PAIR_TOKENS + i;
                    FloatVector lo = FloatVector.fromArray(F512, x, from + b * BLOCK);
                    FloatVector hi = FloatVector.fromArray(F512, x, from + b * BLOCK + HALF);
                    float m = lo.abs().max(hi.abs()).reduceLanes(VectorOperators.MAX);
                    float scale = m != 0f ? 127f / m : 0f;
                    IntVector ql = ((IntVector) lo.mul(scale).add(ROUND).reinterpretShape(I512, 0)).sub(ROUND_BITS);
                    IntVector qh = ((IntVector) hi.mul(scale).add(ROUND).reinterpretShape(I512, 0)).sub(ROUND_BITS);
                    ql.and(0xFFFF).or(qh.lanewise(VectorOperators.LSHL, 16)).intoArray(pairs, slot * HALF);
                    d[slot] = Float16.toFloat(Float16.fromFloat(m / 127f));
                }
            }
        }
    }

    private static void check(int tokens, int cols) {
        if (tokens <= 0 || cols % BLOCK != 0) {
            // Not Preconditions: its varargs would allocate on every step.
            throw new IllegalArgumentException(tokens + " tokens of " + cols + " columns");
        }
    }

    /** Quantizes the block at {@code x[xo ..]} into {@link #blockQ}, {@link #blockD}, {@link #low} and {@link #high}. */
    private void block(float[] x, int xo) {
        FloatVector max = FloatVector.zero(F);
        for (int j = 0; j < BLOCK; j += F.length()) {
            max = max.max(FloatVector.fromArray(F, x, xo + j).abs());
        }
        // A maximum is exact in any order. The rounding stays scalar: Java 17 compiles the
        // vector float-to-int conversion into a call (2.2 against 129 ns an element).
        float m = max.reduceLanes(VectorOperators.MAX);
        float scale = m != 0f ? 127f / m : 0f;
        int lowSum = 0;
        int highSum = 0;
        for (int j = 0; j < BLOCK; j++) {
            int v = (int) Math.rint(x[xo + j] * scale);
            blockQ[j] = (short) v;
            if (j < HALF) {
                lowSum += v;
            } else {
                highSum += v;
            }
        }
        blockD = Float16.toFloat(Float16.fromFloat(m / 127f));
        low = lowSum;
        high = highSum;
    }
}
