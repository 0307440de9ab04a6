package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Q4_0x32Tensor}'s groups against activations quantized to Q8_0 ({@link Q8_0Tokens}), the
 * way llama.cpp multiplies Q4_0: each block's products summed as integers, {@code sumi =
 * sum((nibble - 8) * q)}, then {@code acc = fma(sumi, d * dx, acc)} over the blocks in turn.
 *
 * <p>Why 16-bit lanes suffice: {@code |nibble - 8| <= 8} and {@code |q| <= 127}, so a block's 32
 * products sum to at most {@code 32 * 8 * 127 = 32,512} in magnitude. A 32-byte load holds one
 * element of a whole group's 32 rows; widened to a 32-lane short vector, it takes a multiply and
 * an add per element, where the float kernels widen every weight through int to float first.
 * The accumulator starts from {@link Q8_0Tokens#start} and sums the unsigned nibbles: the
 * intermediate sums may wrap, but arithmetic modulo 2^16 ends on the exact block sum, which fits.
 * Integer sums have no order, so every kernel, any batch and both high-nibble encodings give
 * the same bits. {@code MatMulBenchmark}, one thread, 2048 columns, one token streaming 75 MB
 * of weights: 33.6 (Java 17) and 37.7 (Java 25) against 24.8 and 24.1 G weights/s with fp32
 * activations; at eight tokens in cache 69 and 92 against 81 and 92 GMAC/s (docs/benchmarks.md,
 * eighth stop), with an eight-token kernel that the eleventh stop split in two ({@link
 * #fourTokens}) and the twentieth rebuilt for Java 25 ({@link #eightTokens}).
 *
 * <p>Written out by hand as {@link Q4_0x32Tensor}'s kernels are, for the same reason: in {@link
 * #eightTokens} a one-line helper was not inlined ({@code NodeCountInliningCutoff}) and the kernel
 * ran ten times slower.
 */
final class Q4_0xQ8_0Dot {

    private static final VectorSpecies<Float> F = InterleavedTensor.F;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_256;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_512;
    private static final int LANES = InterleavedTensor.LANES;
    private static final int GROUP = InterleavedTensor.GROUP;
    private static final int TOKENS = InterleavedTensor.TOKENS;
    private static final int BLOCK = Q8_0Tokens.BLOCK;
    private static final int HALF = BLOCK / 2;
    /** One block of a group: a byte of every row for each pair of elements. */
    private static final int STEP = HALF * GROUP;
    private static final boolean SIGNED_HIGH = Q4_0x32Tensor.SIGNED_HIGH;

    /**
     * Whether {@link #manyTokens} takes eight tokens a call ({@link #eightTokens}): from Java 25,
     * whose steps of more than 16 tokens go through {@link Q4_0Pairs}. Java 17 and 21 take four
     * ({@link #fourTokens}) at every step size. Java 17 cannot compile {@link #eightTokens} whole:
     * its parse passes C2's {@code NodeCountInliningCutoff} in the high nibbles' loop, and the
     * calls after it are inlined late, its stores among them. Whether their intrinsics then expand
     * depends on what the JVM ran before; where they did not, the kernel ran the API's Java
     * fallback: decode at batch 8 after eight 128-token prompts read 11.9-17.1 tok/s in 11 of 16
     * Java 17 JVMs, against 56.1-74.2 through {@link #fourTokens} in 10 of 10 (docs/benchmarks.md,
     * twenty-first stop). A constant: C2 compiles only what it selects.
     */
    private static final boolean EIGHT = Runtime.version().feature() >= 25;
    /** Tokens of a {@link #fourTokens} call. */
    private static final int FOUR = TOKENS / 2;
    /** Tokens of one {@link #manyTokens} call: eight on Java 25, else four (see {@link #EIGHT}). */
    static final int CALL_TOKENS = EIGHT ? TOKENS : FOUR;
    /** {@link #eightTokens}' integer sums of a block, one vector per token, on their way to floats. */
    private static final ThreadLocal<short[]> SUMS = ThreadLocal.withInitial(() -> new short[GROUP * TOKENS]);

    private Q4_0xQ8_0Dot() {}

    /** Whether this machine's vectors hold a group's 32 rows as shorts. */
    static boolean fits() {
        return F.vectorBitSize() == S.vectorBitSize() && S.length() == GROUP;
    }

    /** One group at {@code q[qo]}, {@code s[so]} against token 0 of {@code x} (width 1): {@code out[row + i]}, {@code i < rows}. */
    static void oneToken(byte[] q, int qo, float[] s, int so, int blocks, Q8_0Tokens x, float[] out, int row, int rows) {
        short[] xq = x.q;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            ShortVector u = ShortVector.broadcast(S, x.start[b]);
            int p = qo + b * STEP;
            int c = b * BLOCK;
            for (int j = 0; j < HALF; j++) {
                ShortVector v = (ShortVector) ByteVector.fromArray(B, q, p + j * GROUP).convertShape(VectorOperators.B2S, S, 0);
                u = v.and((short) 0x0F).mul(xq[c + j]).add(u);
                u = (SIGNED_HIGH ? v.lanewise(VectorOperators.ASHR, 4) : v.lanewise(VectorOperators.ASHR, 4).and((short) 0x0F)).mul(xq[c + HALF + j]).add(u);
            }
            FloatVector e = FloatVector.broadcast(F, x.d[b]);
            a0 = ((FloatVector) u.convertShape(VectorOperators.S2F, F, 0)).fma(FloatVector.fromArray(F, s, so + b * GROUP).mul(e), a0);
            a1 = ((FloatVector) u.convertShape(VectorOperators.S2F, F, 1)).fma(FloatVector.fromArray(F, s, so + b * GROUP + LANES).mul(e), a1);
        }
        // zero + acc: see Q4_0x32Tensor's class comment.
        FloatVector z = FloatVector.zero(F);
        if (rows == GROUP) {
            z.add(a0).intoArray(out, row);
            z.add(a1).intoArray(out, row + LANES);
        } else {
            float[] tile = Simd.tile(GROUP);
            z.add(a0).intoArray(tile, 0);
            z.add(a1).intoArray(tile, LANES);
            System.arraycopy(tile, 0, out, row, rows);
        }
    }

    /** As {@link #oneToken} over two whole groups, at {@code qa, sa} and {@code qb, sb}: two chains of integer sums. */
    static void twoGroups(byte[] q, int qa, int qb, float[] s, int sa, int sb, int blocks, Q8_0Tokens x, float[] out, int row) {
        short[] xq = x.q;
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a0 = zero;
        FloatVector a1 = zero;
        FloatVector a2 = zero;
        FloatVector a3 = zero;
        int gb = qb - qa;
        for (int b = 0; b < blocks; b++) {
            ShortVector u = ShortVector.broadcast(S, x.start[b]);
            ShortVector w = u;
            int p = qa + b * STEP;
            int c = b * BLOCK;
            for (int j = 0; j < HALF; j++) {
                int o = p + j * GROUP;
                short lo = xq[c + j];
                short hi = xq[c + HALF + j];
                ShortVector v0 = (ShortVector) ByteVector.fromArray(B, q, o).convertShape(VectorOperators.B2S, S, 0);
                ShortVector v1 = (ShortVector) ByteVector.fromArray(B, q, o + gb).convertShape(VectorOperators.B2S, S, 0);
                u = v0.and((short) 0x0F).mul(lo).add(u);
                w = v1.and((short) 0x0F).mul(lo).add(w);
                u = (SIGNED_HIGH ? v0.lanewise(VectorOperators.ASHR, 4) : v0.lanewise(VectorOperators.ASHR, 4).and((short) 0x0F)).mul(hi).add(u);
                w = (SIGNED_HIGH ? v1.lanewise(VectorOperators.ASHR, 4) : v1.lanewise(VectorOperators.ASHR, 4).and((short) 0x0F)).mul(hi).add(w);
            }
            FloatVector e = FloatVector.broadcast(F, x.d[b]);
            a0 = ((FloatVector) u.convertShape(VectorOperators.S2F, F, 0)).fma(FloatVector.fromArray(F, s, sa + b * GROUP).mul(e), a0);
            a1 = ((FloatVector) u.convertShape(VectorOperators.S2F, F, 1)).fma(FloatVector.fromArray(F, s, sa + b * GROUP + LANES).mul(e), a1);
            a2 = ((FloatVector) w.convertShape(VectorOperators.S2F, F, 0)).fma(FloatVector.fromArray(F, s, sb + b * GROUP).mul(e), a2);
            a3 = ((FloatVector) w.convertShape(VectorOperators.S2F, F, 1)).fma(FloatVector.fromArray(F, s, sb + b * GROUP + LANES).mul(e), a3);
        }
        zero.add(a0).intoArray(out, row);
        zero.add(a1).intoArray(out, row + LANES);
        zero.add(a2).intoArray(out, row + GROUP);
        zero.add(a3).intoArray(out, row + GROUP + LANES);
    }

    /**
     * As {@link #oneToken} against tokens {@code [t, t + CALL_TOKENS)} of {@code x} (width {@link
     * InterleavedTensor#TOKENS}; {@code t} a multiple of that), through {@link #eightTokens} or
     * {@link #fourTokens}: the same bits either way.
     */
    static void manyTokens(
            byte[] q, int qo, float[] s, int so, int blocks, Q8_0Tokens x, int t,
            float[] out, int outStride, int row, int rows) {
        if (EIGHT) {
            eightTokens(q, qo, s, so, blocks, x, t, out, outStride, row, rows);
        } else {
            fourTokens(q, qo, s, so, blocks, x, t, out, outStride, row, rows);
        }
    }

    /**
     * {@link #manyTokens} on Java 17 and 21: tokens {@code [t, t + 4)} of {@code x} (width {@link
     * InterleavedTensor#TOKENS}; {@code t} a multiple of 4), each widened weight vector multiplying
     * all four.
     *
     * <p>Four tokens, not the eight of a group: with eight, the eight integer sums, sixteen float
     * results and the hoisted broadcasts took more than the 32 vector registers, and C2 kept two
     * sums on the stack, stored and loaded back at every element. A stack slot of 64 bytes that
     * straddles a 4 KB page made every such access a page split, and where the slots fall depends
     * on how deep the thread's stack is when it calls: the same compiled code ran at 83 against
     * 142 GFLOP/s at 2 of every 64 call depths (docs/benchmarks.md, eleventh stop), which is the
     * slow mode earlier stops saw come and go with JVMs. With four tokens nothing is kept on the
     * stack in the loop.
     */
    static void fourTokens(
            byte[] q, int qo, float[] s, int so, int blocks, Q8_0Tokens x, int t,
            float[] out, int outStride, int row, int rows) {
        short[] xq = x.q;
        int tokens = x.tokens;
        float[] xd = x.d;
        short[] x8 = x.start;
        // The tokens' place in their group of eight, whose elements are interleaved.
        int lane = t % TOKENS;
        int group = t - lane;
        int xo = group * blocks * BLOCK + lane;
        int bo = group * blocks + lane;
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a00 = zero;
        FloatVector a01 = zero;
        FloatVector a02 = zero;
        FloatVector a03 = zero;
        FloatVector a10 = zero;
        FloatVector a11 = zero;
        FloatVector a12 = zero;
        FloatVector a13 = zero;
        for (int b = 0; b < blocks; b++) {
            int bk = bo + b * TOKENS;
            ShortVector u0 = ShortVector.broadcast(S, x8[bk]);
            ShortVector u1 = ShortVector.broadcast(S, x8[bk + 1]);
            ShortVector u2 = ShortVector.broadcast(S, x8[bk + 2]);
            ShortVector u3 = ShortVector.broadcast(S, x8[bk + 3]);
            int p = qo + b * STEP;
            int c = b * BLOCK;
            for (int j = 0; j < HALF; j++) {
                ShortVector v = (ShortVector) ByteVector.fromArray(B, q, p + j * GROUP).convertShape(VectorOperators.B2S, S, 0);
                ShortVector lo = v.and((short) 0x0F);
                ShortVector hi = SIGNED_HIGH ? v.lanewise(VectorOperators.ASHR, 4) : v.lanewise(VectorOperators.ASHR, 4).and((short) 0x0F);
                int xl = xo + (c + j) * TOKENS;
                int xh = xo + (c + HALF + j) * TOKENS;
                u0 = hi.mul(xq[xh]).add(lo.mul(xq[xl]).add(u0));
                u1 = hi.mul(xq[xh + 1]).add(lo.mul(xq[xl + 1]).add(u1));
                u2 = hi.mul(xq[xh + 2]).add(lo.mul(xq[xl + 2]).add(u2));
                u3 = hi.mul(xq[xh + 3]).add(lo.mul(xq[xl + 3]).add(u3));
            }
            FloatVector d0 = FloatVector.fromArray(F, s, so + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, s, so + b * GROUP + LANES);
            FloatVector e = FloatVector.broadcast(F, xd[bk]);
            a00 = ((FloatVector) u0.convertShape(VectorOperators.S2F, F, 0)).fma(d0.mul(e), a00);
            a10 = ((FloatVector) u0.convertShape(VectorOperators.S2F, F, 1)).fma(d1.mul(e), a10);
            e = FloatVector.broadcast(F, xd[bk + 1]);
            a01 = ((FloatVector) u1.convertShape(VectorOperators.S2F, F, 0)).fma(d0.mul(e), a01);
            a11 = ((FloatVector) u1.convertShape(VectorOperators.S2F, F, 1)).fma(d1.mul(e), a11);
            e = FloatVector.broadcast(F, xd[bk + 2]);
            a02 = ((FloatVector) u2.convertShape(VectorOperators.S2F, F, 0)).fma(d0.mul(e), a02);
            a12 = ((FloatVector) u2.convertShape(VectorOperators.S2F, F, 1)).fma(d1.mul(e), a12);
            e = FloatVector.broadcast(F, xd[bk + 3]);
            a03 = ((FloatVector) u3.convertShape(VectorOperators.S2F, F, 0)).fma(d0.mul(e), a03);
            a13 = ((FloatVector) u3.convertShape(VectorOperators.S2F, F, 1)).fma(d1.mul(e), a13);
        }
        // As Q4_0x32Tensor.manyTokens: straight to out when all are wanted, else through a tile.
        boolean direct = rows == GROUP && t + FOUR <= tokens;
        float[] dst = direct ? out : Simd.tile(GROUP * FOUR);
        int stride = direct ? outStride : GROUP;
        int o = direct ? t * outStride + row : 0;
        zero.add(a00).intoArray(dst, o);
        zero.add(a10).intoArray(dst, o + LANES);
        zero.add(a01).intoArray(dst, o + 1 * stride);
        zero.add(a11).intoArray(dst, o + 1 * stride + LANES);
        zero.add(a02).intoArray(dst, o + 2 * stride);
        zero.add(a12).intoArray(dst, o + 2 * stride + LANES);
        zero.add(a03).intoArray(dst, o + 3 * stride);
        zero.add(a13).intoArray(dst, o + 3 * stride + LANES);
        if (!direct) {
            Simd.copyTile(dst, Math.min(FOUR, tokens - t), GROUP, rows, out, t * outStride + row, outStride);
        }
    }

    /**
     * {@link #manyTokens} on Java 25: the {@link InterleavedTensor#TOKENS} tokens from {@code t}
     * of {@code x} ({@code t} a multiple of that), each widened weight vector multiplying all
     * eight.
     *
     * <p>Built to stay within what C2 compiles well:
     * <ul>
     *   <li>Eight tokens a call, not four: the widening of each weight vector (a load, a sign
     *       extension, a mask or shift) is shared by twice the products.
     *   <li>The low and the high nibbles in two loops over the block, each with eight broadcasts.
     *       In one loop Java 25 kept eight of the sixteen activations in general registers and
     *       broadcast them from there (two operations instead of a load each).
     *   <li>The float sums in a tile, not in sixteen registers, which with eight integer sums and
     *       the broadcasts left too few (the four-token kernel's reason: C2 kept sums on the
     *       stack, and a slot straddling a page ran at 83 against 142 GFLOP/s; docs/benchmarks.md,
     *       eleventh stop).
     *   <li>The float step once per token in a loop, its integer sums through {@code sums}:
     *       written out eight times it pushed the method past C2's node budget, and a
     *       {@code reinterpretAsShorts} or a {@code convertShape} compiled as a call at times
     *       (Java 17 JVMs at 0.54-0.89 against 0.15 ms for 512 rows).
     * </ul>
     * {@code MatMulBenchmark -p type=Q4_0 -p layout=q8_0 -p tokens=8 -p rows=512}, Java 25:
     * 0.146-0.151 ms against 0.166 for {@link #fourTokens} (docs/benchmarks.md, twentieth stop).
     */
    static void eightTokens(
            byte[] q, int qo, float[] s, int so, int blocks, Q8_0Tokens x, int t,
            float[] out, int outStride, int row, int rows) {
        short[] xq = x.q;
        float[] xd = x.d;
        short[] x8 = x.start;
        int xo = t * blocks * BLOCK;
        int bo = t * blocks;
        float[] acc = Simd.tile(GROUP * TOKENS);
        short[] sums = SUMS.get();
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        ShortVector none = ShortVector.zero(S);
        for (int i = 0; i < GROUP * TOKENS; i += LANES) {
            zero.intoArray(acc, i);
        }
        for (int b = 0; b < blocks; b++) {
            int bk = bo + b * TOKENS;
            ShortVector u0 = ShortVector.broadcast(S, x8[bk + 0]);
            ShortVector u1 = ShortVector.broadcast(S, x8[bk + 1]);
            ShortVector u2 = ShortVector.broadcast(S, x8[bk + 2]);
            ShortVector u3 = ShortVector.broadcast(S, x8[bk + 3]);
            ShortVector u4 = ShortVector.broadcast(S, x8[bk + 4]);
            ShortVector u5 = ShortVector.broadcast(S, x8[bk + 5]);
            ShortVector u6 = ShortVector.broadcast(S, x8[bk + 6]);
            ShortVector u7 = ShortVector.broadcast(S, x8[bk + 7]);
            int p = qo + b * STEP;
            int c = b * BLOCK;
            for (int j = 0; j < HALF; j++) {
                ShortVector lo = ((ShortVector) ByteVector.fromArray(B, q, p + j * GROUP).convertShape(VectorOperators.B2S, S, 0)).and((short) 0x0F);
                int xl = xo + (c + j) * TOKENS;
                u0 = lo.mul(xq[xl + 0]).add(u0);
                u1 = lo.mul(xq[xl + 1]).add(u1);
                u2 = lo.mul(xq[xl + 2]).add(u2);
                u3 = lo.mul(xq[xl + 3]).add(u3);
                u4 = lo.mul(xq[xl + 4]).add(u4);
                u5 = lo.mul(xq[xl + 5]).add(u5);
                u6 = lo.mul(xq[xl + 6]).add(u6);
                u7 = lo.mul(xq[xl + 7]).add(u7);
            }
            for (int j = 0; j < HALF; j++) {
                ShortVector v = (ShortVector) ByteVector.fromArray(B, q, p + j * GROUP).convertShape(VectorOperators.B2S, S, 0);
                ShortVector hi = SIGNED_HIGH ? v.lanewise(VectorOperators.ASHR, 4) : v.lanewise(VectorOperators.ASHR, 4).and((short) 0x0F);
                int xh = xo + (c + HALF + j) * TOKENS;
                u0 = hi.mul(xq[xh + 0]).add(u0);
                u1 = hi.mul(xq[xh + 1]).add(u1);
                u2 = hi.mul(xq[xh + 2]).add(u2);
                u3 = hi.mul(xq[xh + 3]).add(u3);
                u4 = hi.mul(xq[xh + 4]).add(u4);
                u5 = hi.mul(xq[xh + 5]).add(u5);
                u6 = hi.mul(xq[xh + 6]).add(u6);
                u7 = hi.mul(xq[xh + 7]).add(u7);
            }
            // none + sum, as zero + acc in Q4_0x32Tensor: a loop phi stored as is at times
            // reached the store through the type profile.
            none.add(u0).intoArray(sums, 0 * GROUP);
            none.add(u1).intoArray(sums, 1 * GROUP);
            none.add(u2).intoArray(sums, 2 * GROUP);
            none.add(u3).intoArray(sums, 3 * GROUP);
            none.add(u4).intoArray(sums, 4 * GROUP);
            none.add(u5).intoArray(sums, 5 * GROUP);
            none.add(u6).intoArray(sums, 6 * GROUP);
            none.add(u7).intoArray(sums, 7 * GROUP);
            FloatVector d0 = FloatVector.fromArray(F, s, so + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, s, so + b * GROUP + LANES);
            for (int i = 0; i < TOKENS; i++) {
                ShortVector u = ShortVector.fromArray(S, sums, i * GROUP);
                FloatVector e = FloatVector.broadcast(F, xd[bk + i]);
                int at = i * GROUP;
                ((FloatVector) u.convertShape(VectorOperators.S2F, F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, at)).intoArray(acc, at);
                ((FloatVector) u.convertShape(VectorOperators.S2F, F, 1)).fma(d1.mul(e), FloatVector.fromArray(F, acc, at + LANES)).intoArray(acc, at + LANES);
            }
        }
        Simd.copyTile(acc, Math.min(TOKENS, x.tokens - t), GROUP, rows, out, t * outStride + row, outStride);
    }
}
