package io.kvstream.model.tensor;

import java.util.Arrays;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Q4_0x32Tensor}'s rows against a step of many tokens quantized to Q8_0 ({@link
 * Q8_0Tokens#quantizePairs}, prefill): the integer sums of {@link Q4_0xQ8_0Dot} at a rate past
 * the fp32 FMA peak, which the Vector API cannot pass with floats.
 *
 * <p>Why it is faster: a 16-bit multiply and add cover 32 lanes where an fp32 FMA covers 16, and
 * this machine issues integer multiplies and adds on separate pipes. The catch of the 8-token
 * kernel ({@link Q4_0xQ8_0Dot#manyTokens}) was the token side: a 16-bit value has no broadcast
 * load, so every product paid a shuffle. Here each 32-bit lane holds two elements of one row,
 * {@code j} and {@code j + 16} of a block (a Q4_0 byte's two nibbles, minus 8), and each token's
 * two matching values come as one int broadcast from memory, a load and no shuffle. At the
 * block's end the lane's two 16-bit sums are added ({@code |sum| <= 32 * 8 * 127} fits) and the
 * block goes on as in {@link Q4_0xQ8_0Dot}: {@code acc = fma(sum, d * dx, acc)}, block after
 * block, so every row and token gets the same bits as at any other step size.
 *
 * <p>Each panel of two groups (64 rows) is expanded once per call into that pair layout, then
 * multiplied by every group of {@link Q8_0Tokens#PAIR_TOKENS} tokens, half a panel at a time
 * ({@link #sums}): 10 accumulators of 32 lanes, two weight vectors and a broadcast per token in
 * registers. One thread, 2048 columns, in cache, then with the whole panel at a time: 141 (Java
 * 17) and 147 (Java 25) GMAC/s against 112 for the fp32 {@code RowLaneGemm} kernel
 * (docs/benchmarks.md, ninth stop). Halving it cost under 2% in {@code MatMulBenchmark}
 * (twenty-second stop). The expansion splits each 32-bit pair of rows that
 * {@code B2S} gives into an even-row and an odd-row vector, so a panel's lanes hold rows {@code
 * 0, 2, .., 30}, then {@code 1, 3, .., 31}, of each group; scales and results follow that order.
 *
 * <p>Java 25 only ({@link Q8_0Tokens#PAIRS}): on 17 and 21 some fresh JVMs compiled this
 * kernel's conversions or the stores of its sums without intrinsics, whatever form it was
 * written in (22-31 instead of 150-180 tokens/s of prefill, in 1 of 5 to 3 of 8 JVMs; Java 25 in
 * none of 13 then, in 2 of 80 later: see {@link #sums}), so they keep {@link
 * Q4_0xQ8_0Dot#manyTokens} at every step size and never load this class.
 *
 * <p>Written out by hand, as {@link Q4_0x32Tensor}'s kernels are, for the same reason; species
 * are named in every conversion ({@code convertShape}, {@code reinterpretShape}), since the
 * forms that derive them ({@code convert}, {@code reinterpretAsInts}) left C2 a species it could
 * not fold in some runs.
 */
final class Q4_0Pairs {

    private static final VectorSpecies<Float> F = InterleavedTensor.F;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_256;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_512;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    private static final int LANES = InterleavedTensor.LANES;
    private static final int GROUP = InterleavedTensor.GROUP;
    private static final int HALF = Q8_0Tokens.BLOCK / 2;
    private static final int TOKENS = Q8_0Tokens.PAIR_TOKENS;
    /** Rows of a panel: two groups, four vectors of {@link #LANES} rows. */
    static final int ROWS = 2 * GROUP;
    /** Shorts of one weight vector: {@link #LANES} rows, two elements each. */
    private static final int SHORTS = 2 * LANES;
    /** Shorts of one pair of elements of a panel's rows. */
    private static final int PANEL_STEP = 2 * ROWS;
    /** Shorts of one token's sums in {@link Scratch#sums}: a vector for each of a panel's four. */
    private static final int SUMS_STEP = 4 * SHORTS;
    /** The high nibbles' flipped top bits ({@link Q4_0x32Tensor#SIGNED_HIGH}), in both rows of an int lane. */
    private static final int FLIP = Q4_0x32Tensor.SIGNED_HIGH ? 0x0080_0080 : 0;

    /** Per thread: the panel, its scales, and the results of one token group. */
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private Q4_0Pairs() {}


    /** Half a block of floats: {@link #quantizeBlock}'s vectors. */
    private static final VectorSpecies<Float> F512 = FloatVector.SPECIES_512;
    /** {@code 1.5 * 2^23}: added to a float of magnitude under {@code 2^22}, rounds it to an integer. */
    private static final float ROUND = 0x1.8p23f;
    private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);

    /**
     * Quantizes the block at {@code x[xo ..]} as {@link Q8_0Tokens#quantize} does, its 16 pairs to
     * {@code pairs[po ..]}; returns its scale. In vectors: for {@code |v| <= 127}, {@code rint(v)}
     * is {@code (v + 1.5 * 2^23) - 1.5 * 2^23}, the float addition rounding to the nearest
     * integer, ties to even, as {@code rint} does; so the sum's low mantissa bits are the
     * integer, without a float-to-int conversion. The scalar loop of {@link Q8_0Tokens#quantize}
     * was a sixth of the calling thread's time in a 128-token prefill, the other thread waiting.
     */
    static float quantizeBlock(float[] x, int xo, int[] pairs, int po) {
        FloatVector lo = FloatVector.fromArray(F512, x, xo);
        FloatVector hi = FloatVector.fromArray(F512, x, xo + HALF);
        float m = lo.abs().max(hi.abs()).reduceLanes(VectorOperators.MAX);
        float scale = m != 0f ? 127f / m : 0f;
        IntVector ql = ((IntVector) lo.mul(scale).add(ROUND).reinterpretShape(I, 0)).sub(ROUND_BITS);
        IntVector qh = ((IntVector) hi.mul(scale).add(ROUND).reinterpretShape(I, 0)).sub(ROUND_BITS);
        ql.and(0xFFFF).or(qh.lanewise(VectorOperators.LSHL, 16)).intoArray(pairs, po);
        return Float16.toFloat(Float16.fromFloat(m / 127f));
    }

    /**
     * Rows {@code [from, from + n)} of {@code w} against every token of {@code x} (quantized in
     * pairs): token {@code t}, row {@code r} to {@code out[t * outStride + r]}.
     */
    static void dotRows(Q4_0x32Tensor w, int from, int n, Q8_0Tokens x, float[] out, int outStride) {
        int blocks = w.blocks;
        Scratch s = SCRATCH.get().ensure(blocks);
        int groups = (x.tokens + TOKENS - 1) / TOKENS;
        for (int r = from; r < from + n; r += ROWS) {
            int rows = Math.min(ROWS, from + n - r);
            expand(w.quants, w.scales, blocks, r / GROUP, rows > GROUP, s.panel, s.scales);
            for (int g = 0; g < groups; g++) {
                Arrays.fill(s.acc, 0f);
                int xo = g * blocks * HALF * TOKENS;
                int xdo = g * blocks * TOKENS;
                for (int b = 0; b < blocks; b++) {
                    sums(s.panel, x.pairs, xo, b, 0, s.sums);
                    sums(s.panel, x.pairs, xo, b, 2, s.sums);
                    scale(s.sums, s.scales, x.d, xdo, b, s.acc);
                }
                int tokens = Math.min(TOKENS, x.tokens - g * TOKENS);
                for (int t = 0; t < tokens; t++) {
                    int o = (g * TOKENS + t) * outStride + r;
                    for (int i = 0; i < rows; i++) {
                        out[o + i] = s.acc[t * ROWS + LANE_OF_ROW[i]];
                    }
                }
            }
        }
    }

    /** Where row {@code i} of a panel sits in its results: even rows, then odd, of each group. */
    private static final int[] LANE_OF_ROW = new int[ROWS];

    static {
        for (int i = 0; i < ROWS; i++) {
            int group = i / GROUP;
            int r = i % GROUP;
            LANE_OF_ROW[i] = group * GROUP + (r % 2) * LANES + r / 2;
        }
    }

    /**
     * Groups {@code g} and, if {@code both}, {@code g + 1} into the pair layout: block {@code b},
     * pair {@code j}, vector {@code v} at {@code panel[(b * HALF + j) * PANEL_STEP + v * SHORTS]},
     * the signed elements {@code j} and {@code j + 16} of each of its rows; their scales at
     * {@code scales[b * ROWS + v * LANES]}. A missing second group is zeros.
     */
    private static void expand(byte[] quants, float[] wScales, int blocks, int g, boolean both, short[] panel, float[] scales) {
        for (int h = 0; h < 2; h++) {
            if (h == 1 && !both) {
                for (int b = 0; b < blocks; b++) {
                    for (int j = 0; j < HALF; j++) {
                        Arrays.fill(panel, (b * HALF + j) * PANEL_STEP + GROUP * 2, (b * HALF + j + 1) * PANEL_STEP, (short) 0);
                    }
                    Arrays.fill(scales, b * ROWS + GROUP, (b + 1) * ROWS, 0f);
                }
                return;
            }
            for (int b = 0; b < blocks; b++) {
                int slot = ((g + h) * blocks + b) * GROUP;
                int q = slot * HALF;
                for (int j = 0; j < HALF; j++) {
                    // Lane i: row 2i's byte in bits 0-15 (sign-extended), row 2i + 1's in 16-31.
                    IntVector v = ((IntVector) ByteVector.fromArray(B, quants, q + j * GROUP)
                            .convertShape(VectorOperators.B2S, S, 0).reinterpretShape(I, 0)).lanewise(VectorOperators.XOR, FLIP);
                    IntVector even = v.and(0x0F).or(v.lanewise(VectorOperators.LSHL, 12).and(0xF_0000));
                    IntVector odd = v.lanewise(VectorOperators.LSHR, 16).and(0x0F).or(v.lanewise(VectorOperators.LSHR, 4).and(0xF_0000));
                    int p = (b * HALF + j) * PANEL_STEP + h * 2 * SHORTS;
                    ((ShortVector) even.reinterpretShape(S, 0)).sub((short) 8).intoArray(panel, p);
                    ((ShortVector) odd.reinterpretShape(S, 0)).sub((short) 8).intoArray(panel, p + SHORTS);
                }
                int so = b * ROWS + h * GROUP;
                for (int i = 0; i < LANES; i++) {
                    scales[so + i] = wScales[slot + 2 * i];
                    scales[so + LANES + i] = wScales[slot + 2 * i + 1];
                }
            }
        }
    }

    /**
     * Block {@code b} of two of a panel's four vectors, {@code v} and {@code v + 1}, against the
     * token group whose pairs start at {@code xp[xo]}: token {@code t}'s 16-bit sums to {@code
     * sums[t * SUMS_STEP + v * SHORTS ..]}, two per int lane as the pair layout holds them; {@link
     * #scale} takes them on to floats. A block per call: short calls get compiled whole, not on
     * stack replacement in the middle of the loop with accumulators coming from the interpreter
     * (one of the forms tried against Java 17's slow compilations, see {@link Q8_0Tokens#PAIRS}).
     *
     * <p>Two vectors a call and the floats in a method of their own keep each method small
     * enough for C2 to parse whole. With all four vectors and the float step written out for
     * each of the 20 sums, Java 25 passed {@code NodeCountInliningCutoff} in the block's loop and
     * inlined the 200 API calls after it late. In 2 of 80 JVMs some of their intrinsics then did
     * not expand and the FMAs ran the API's Java fallback: 15-85 MB allocated per prefill token,
     * prefill at 86-115 against 115-134 tok/s (docs/benchmarks.md, twenty-second stop).
     */
    private static void sums(short[] panel, int[] xp, int xo, int b, int v, short[] sums) {
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        ShortVector zero = ShortVector.zero(S);
        ShortVector a0 = zero;
        ShortVector a1 = zero;
        ShortVector a2 = zero;
        ShortVector a3 = zero;
        ShortVector a4 = zero;
        ShortVector c0 = zero;
        ShortVector c1 = zero;
        ShortVector c2 = zero;
        ShortVector c3 = zero;
        ShortVector c4 = zero;
        int wb = b * HALF * PANEL_STEP + v * SHORTS;
        int xb = xo + b * TOKENS * HALF;
        for (int j = 0; j < HALF; j++) {
            int p = wb + j * PANEL_STEP;
            ShortVector w0 = ShortVector.fromArray(S, panel, p);
            ShortVector w1 = ShortVector.fromArray(S, panel, p + SHORTS);
            int xj = xb + j;
            ShortVector x;
            x = (ShortVector) IntVector.broadcast(I, xp[xj + 0 * HALF]).reinterpretShape(S, 0);
            a0 = w0.mul(x).add(a0);
            c0 = w1.mul(x).add(c0);
            x = (ShortVector) IntVector.broadcast(I, xp[xj + 1 * HALF]).reinterpretShape(S, 0);
            a1 = w0.mul(x).add(a1);
            c1 = w1.mul(x).add(c1);
            x = (ShortVector) IntVector.broadcast(I, xp[xj + 2 * HALF]).reinterpretShape(S, 0);
            a2 = w0.mul(x).add(a2);
            c2 = w1.mul(x).add(c2);
            x = (ShortVector) IntVector.broadcast(I, xp[xj + 3 * HALF]).reinterpretShape(S, 0);
            a3 = w0.mul(x).add(a3);
            c3 = w1.mul(x).add(c3);
            x = (ShortVector) IntVector.broadcast(I, xp[xj + 4 * HALF]).reinterpretShape(S, 0);
            a4 = w0.mul(x).add(a4);
            c4 = w1.mul(x).add(c4);
        }
        int o = v * SHORTS;
        a0.intoArray(sums, o + 0 * SUMS_STEP);
        c0.intoArray(sums, o + 0 * SUMS_STEP + SHORTS);
        a1.intoArray(sums, o + 1 * SUMS_STEP);
        c1.intoArray(sums, o + 1 * SUMS_STEP + SHORTS);
        a2.intoArray(sums, o + 2 * SUMS_STEP);
        c2.intoArray(sums, o + 2 * SUMS_STEP + SHORTS);
        a3.intoArray(sums, o + 3 * SUMS_STEP);
        c3.intoArray(sums, o + 3 * SUMS_STEP + SHORTS);
        a4.intoArray(sums, o + 4 * SUMS_STEP);
        c4.intoArray(sums, o + 4 * SUMS_STEP + SHORTS);
    }

    /**
     * Block {@code b}'s {@link #sums} of a whole panel, as floats, times the weights' scales at
     * {@code ps[b * ROWS ..]} and the tokens' at {@code xd[xdo + b * TOKENS ..]}, added to token
     * {@code t}'s results at {@code acc[t * ROWS ..]}. An int lane's two 16-bit sums are added
     * ({@code p + (p << 16)} leaves their sum in the top half) and sign-extended.
     */
    private static void scale(short[] sums, float[] ps, float[] xd, int xdo, int b, float[] acc) {
        int db = xdo + b * TOKENS;
        for (int t = 0; t < TOKENS; t++) {
            FloatVector e = FloatVector.broadcast(F, xd[db + t]);
            for (int v = 0; v < 4; v++) {
                IntVector p = (IntVector) ShortVector.fromArray(S, sums, t * SUMS_STEP + v * SHORTS).reinterpretShape(I, 0);
                int a = t * ROWS + v * LANES;
                ((FloatVector) p.add(p.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16).convertShape(VectorOperators.I2F, F, 0))
                        .fma(FloatVector.fromArray(F, ps, b * ROWS + v * LANES).mul(e), FloatVector.fromArray(F, acc, a)).intoArray(acc, a);
            }
        }
    }

    /** One thread's buffers, grown to the widest matrix multiplied. */
    private static final class Scratch {
        short[] panel = new short[0];
        float[] scales = new float[0];
        final float[] acc = new float[TOKENS * ROWS];
        /** {@link #sums} of one block, on their way to {@link #acc}. */
        final short[] sums = new short[TOKENS * SUMS_STEP];

        Scratch ensure(int blocks) {
            if (scales.length < blocks * ROWS) {
                panel = new short[blocks * HALF * PANEL_STEP];
                scales = new float[blocks * ROWS];
            }
            return this;
        }
    }
}
