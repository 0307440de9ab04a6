package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Q4_0Tensor}'s rows interleaved on the heap (see {@link InterleavedTensor}): byte
 * {@code j} of a row's block holds element {@code j} in its low nibble and element {@code j +
 * 16} in its high one, so the kernels walk a block's bytes twice, low nibbles first, to keep the
 * elements in order.
 *
 * <p>On Java 25 the copy flips each high nibble's top bit ({@code ^ 0x80}), which makes the
 * byte's signed value shifted right by 4 the element minus 8: the high half widens with one
 * arithmetic shift and scales with a multiply, where {@code (n >>> 4) & 15} took two operations
 * and the scale an FMA with {@code -8d} (one operation fewer per vector; the weights are the
 * same exact floats). See {@link #SIGNED_HIGH}.
 *
 * <p>Nibbles are widened in place, not in a helper: C2 stops inlining helpers once a method this
 * size reaches its node budget, and a vector returned from a call it did not inline is boxed.
 * For the low nibbles {@code (n - 8) * d} is {@code fma(n, d, -8d)}: the same real number,
 * {@code 8d} being exact, rounded once either way, so the same bits in one instruction fewer.
 *
 * <p>Results are stored as {@code zero + acc}, which has the same bits (an accumulator that starts
 * at +0 never becomes -0) and a vector class C2 knows. Stored as is, an accumulator (a loop phi)
 * at times reached the store through the type profile, the store failed to compile as an
 * intrinsic on Java 17, and decode ran at 4-6 instead of 20 tokens/s.
 */
final class Q4_0x32Tensor extends InterleavedTensor {

    private static final int BLOCK = 32;
    private static final int HALF = BLOCK / 2;
    /** One block of a group: a byte of every row for each pair of elements. */
    private static final int STEP = HALF * GROUP;

    /**
     * Whether the high nibbles are stored flipped and widened by an arithmetic shift (see the
     * class comment): from Java 25, where it was measured. Java 17 compiled the int conversions
     * without intrinsics in the job's context (decode at 1 instead of 18 tokens/s), so it keeps
     * the 16-bit shift, mask and FMA. A constant: C2 compiles only the branch it selects.
     */
    static final boolean SIGNED_HIGH = Runtime.version().feature() >= 25;
    /** Int lanes of the kernels' shape, for the high nibbles' arithmetic shift. */
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());

    /**
     * Whether {@link #dotRows} quantizes activations: asked for ({@link Activations#Q8_0}) and
     * the integer kernels fit this machine's vectors; else fp32.
     */
    private final boolean q8;

    Q4_0x32Tensor(Q4_0Tensor source, Activations activations) {
        super(source, BLOCK, HALF);
        this.q8 = activations == Activations.Q8_0 && Q4_0xQ8_0Dot.fits();
        if (SIGNED_HIGH) {
            for (int i = 0; i < quants.length; i++) {
                quants[i] ^= (byte) 0x80;
            }
        }
    }

    @Override
    public boolean quantizesActivations() {
        return q8;
    }

    /**
     * With {@link Activations#Q8_0}, the tokens quantized first, into a new {@link Q8_0Tokens}
     * per call; {@code MatMul} quantizes once per step instead, through {@link #dotRows(int, int,
     * Q8_0Tokens, float[], int)}.
     */
    @Override
    public void dotRows(int from, int n, float[] x, int xStride, int tokens, float[] out, int outStride) {
        if (!q8) {
            super.dotRows(from, n, x, xStride, tokens, out, outStride);
            return;
        }
        Q8_0Tokens xq = new Q8_0Tokens();
        xq.quantize(x, xStride, tokens, cols());
        dotRows(from, n, xq, out, outStride);
    }

    /**
     * Walks the groups as {@link InterleavedTensor#dotRows} does, through {@link Q4_0xQ8_0Dot}'s
     * kernels, or {@link Q4_0Pairs}' for tokens quantized in pairs (large steps, which skip the
     * packed multiply, see {@link #quantizesActivations}); all give the same bits, so that a
     * token's bits do not depend on its step.
     */
    @Override
    public void dotRows(int from, int n, Q8_0Tokens x, float[] out, int outStride) {
        if (!q8) {
            super.dotRows(from, n, x, out, outStride); // throws: this copy takes fp32 activations
            return;
        }
        // A plain check: Preconditions' varargs would allocate on every call.
        if (x.cols != cols()) {
            throw new IllegalArgumentException(x.cols + " columns quantized for " + name() + " of " + cols());
        }
        checkGroupStart(from);
        if (x.paired) {
            Q4_0Pairs.dotRows(this, from, n, x, out, outStride);
            return;
        }
        int groupScales = blocks * GROUP;
        int groupBytes = groupScales * quantBytes;
        for (int r = from; r < from + n; r += GROUP) {
            int rows = Math.min(GROUP, from + n - r);
            int qo = r / GROUP * groupBytes;
            int so = r / GROUP * groupScales;
            if (x.tokens > 1) {
                for (int t = 0; t < x.tokens; t += Q4_0xQ8_0Dot.CALL_TOKENS) {
                    Q4_0xQ8_0Dot.manyTokens(quants, qo, scales, so, blocks, x, t, out, outStride, r, rows);
                }
            } else if (rows == GROUP && r + 2 * GROUP <= from + n) {
                Q4_0xQ8_0Dot.twoGroups(quants, qo, qo + groupBytes, scales, so, so + groupScales, blocks, x, out, r);
                r += GROUP;
            } else {
                Q4_0xQ8_0Dot.oneToken(quants, qo, scales, so, blocks, x, out, r, rows);
            }
        }
    }

    /** Bytes the copy of a {@code rows x cols} matrix takes on the heap. */
    static long heapBytes(int rows, int cols) {
        return InterleavedTensor.heapBytes(rows, cols, BLOCK, HALF);
    }

    @Override
    void dequantizeBlock(byte[] q, int at, float d, float[] out, int offset) {
        for (int j = 0; j < HALF; j++) {
            int v = q[at + j * GROUP];
            out[offset + j] = ((v & 0x0F) - 8) * d;
            out[offset + j + HALF] = (SIGNED_HIGH ? v >> 4 : ((v & 0xFF) >>> 4) - 8) * d;
        }
    }

    @Override
    void oneToken(byte[] q, int qo, float[] s, int so, float[] x, float[] out, int row, int rows) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            FloatVector d0 = FloatVector.fromArray(F, s, so + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, s, so + b * GROUP + LANES);
            FloatVector n0 = d0.mul(-8f);
            FloatVector n1 = d1.mul(-8f);
            int p = qo + b * STEP;
            int c = b * BLOCK;
            for (int j = 0; j < HALF; j++) {
                FloatVector xv = FloatVector.broadcast(F, x[c + j]);
                ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + j * GROUP);
                ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + j * GROUP + LANES);
                a0 = ((FloatVector) v0.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d0, n0).fma(xv, a0);
                a1 = ((FloatVector) v1.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d1, n1).fma(xv, a1);
            }
            for (int j = 0; j < HALF; j++) {
                FloatVector xv = FloatVector.broadcast(F, x[c + HALF + j]);
                ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + j * GROUP);
                ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + j * GROUP + LANES);
                a0 = (SIGNED_HIGH
                        ? ((FloatVector) ((IntVector) v0.convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0)).mul(d0)
                        : ((FloatVector) v0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d0, n0)).fma(xv, a0);
                a1 = (SIGNED_HIGH
                        ? ((FloatVector) ((IntVector) v1.convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0)).mul(d1)
                        : ((FloatVector) v1.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d1, n1)).fma(xv, a1);
            }
        }
        // zero + acc: see the class comment.
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

    @Override
    void twoGroups(byte[] q, int qa, int qb, float[] s, int sa, int sb, float[] x, float[] out, int row) {
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a0 = zero;
        FloatVector a1 = zero;
        FloatVector a2 = zero;
        FloatVector a3 = zero;
        int gb = qb - qa;
        int touched = 0;
        for (int b = 0; b < blocks; b++) {
            FloatVector d0 = FloatVector.fromArray(F, s, sa + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, s, sa + b * GROUP + LANES);
            FloatVector d2 = FloatVector.fromArray(F, s, sb + b * GROUP);
            FloatVector d3 = FloatVector.fromArray(F, s, sb + b * GROUP + LANES);
            FloatVector n0 = d0.mul(-8f);
            FloatVector n1 = d1.mul(-8f);
            FloatVector n2 = d2.mul(-8f);
            FloatVector n3 = d3.mul(-8f);
            int p = qa + b * STEP;
            touched += touch(q, p + STEP, STEP) + touch(q, p + gb + STEP, STEP);
            int c = b * BLOCK;
            for (int j = 0; j < HALF; j++) {
                FloatVector xv = FloatVector.broadcast(F, x[c + j]);
                int o = p + j * GROUP;
                ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, q, o);
                ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, q, o + LANES);
                ByteVector v2 = ByteVector.fromArray(Simd.DOT_BYTES, q, o + gb);
                ByteVector v3 = ByteVector.fromArray(Simd.DOT_BYTES, q, o + gb + LANES);
                a0 = ((FloatVector) v0.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d0, n0).fma(xv, a0);
                a1 = ((FloatVector) v1.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d1, n1).fma(xv, a1);
                a2 = ((FloatVector) v2.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d2, n2).fma(xv, a2);
                a3 = ((FloatVector) v3.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d3, n3).fma(xv, a3);
            }
            for (int j = 0; j < HALF; j++) {
                FloatVector xv = FloatVector.broadcast(F, x[c + HALF + j]);
                int o = p + j * GROUP;
                ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, q, o);
                ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, q, o + LANES);
                ByteVector v2 = ByteVector.fromArray(Simd.DOT_BYTES, q, o + gb);
                ByteVector v3 = ByteVector.fromArray(Simd.DOT_BYTES, q, o + gb + LANES);
                a0 = (SIGNED_HIGH
                        ? ((FloatVector) ((IntVector) v0.convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0)).mul(d0)
                        : ((FloatVector) v0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d0, n0)).fma(xv, a0);
                a1 = (SIGNED_HIGH
                        ? ((FloatVector) ((IntVector) v1.convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0)).mul(d1)
                        : ((FloatVector) v1.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d1, n1)).fma(xv, a1);
                a2 = (SIGNED_HIGH
                        ? ((FloatVector) ((IntVector) v2.convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0)).mul(d2)
                        : ((FloatVector) v2.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d2, n2)).fma(xv, a2);
                a3 = (SIGNED_HIGH
                        ? ((FloatVector) ((IntVector) v3.convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0)).mul(d3)
                        : ((FloatVector) v3.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d3, n3)).fma(xv, a3);
            }
        }
        keep(touched);
        // zero + acc: see the class comment.
        zero.add(a0).intoArray(out, row);
        zero.add(a1).intoArray(out, row + LANES);
        zero.add(a2).intoArray(out, row + GROUP);
        zero.add(a3).intoArray(out, row + GROUP + LANES);
    }

    @Override
    void manyTokens(
            byte[] q, int qo, float[] s, int so, float[] xp, int t, int tokens,
            float[] out, int outStride, int row, int rows) {
        int xo = t * cols();
        // One zero() for all: every call inlined adds nodes toward C2's inlining cutoff for the method.
        FloatVector zero = FloatVector.zero(F);
        FloatVector a00 = zero;
        FloatVector a01 = zero;
        FloatVector a02 = zero;
        FloatVector a03 = zero;
        FloatVector a04 = zero;
        FloatVector a05 = zero;
        FloatVector a06 = zero;
        FloatVector a07 = zero;
        FloatVector a10 = zero;
        FloatVector a11 = zero;
        FloatVector a12 = zero;
        FloatVector a13 = zero;
        FloatVector a14 = zero;
        FloatVector a15 = zero;
        FloatVector a16 = zero;
        FloatVector a17 = zero;
        int touched = 0;
        for (int b = 0; b < blocks; b++) {
            FloatVector d0 = FloatVector.fromArray(F, s, so + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, s, so + b * GROUP + LANES);
            FloatVector n0 = d0.mul(-8f);
            FloatVector n1 = d1.mul(-8f);
            int p = qo + b * STEP;
            touched += touch(q, p + STEP, STEP);
            int c = b * BLOCK;
            for (int j = 0; j < HALF; j++) {
                ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + j * GROUP);
                ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + j * GROUP + LANES);
                FloatVector w0 = ((FloatVector) v0.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d0, n0);
                FloatVector w1 = ((FloatVector) v1.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d1, n1);
                int xk = xo + (c + j) * TOKENS;
                FloatVector xv = FloatVector.broadcast(F, xp[xk + 0]);
                a00 = w0.fma(xv, a00);
                a10 = w1.fma(xv, a10);
                xv = FloatVector.broadcast(F, xp[xk + 1]);
                a01 = w0.fma(xv, a01);
                a11 = w1.fma(xv, a11);
                xv = FloatVector.broadcast(F, xp[xk + 2]);
                a02 = w0.fma(xv, a02);
                a12 = w1.fma(xv, a12);
                xv = FloatVector.broadcast(F, xp[xk + 3]);
                a03 = w0.fma(xv, a03);
                a13 = w1.fma(xv, a13);
                xv = FloatVector.broadcast(F, xp[xk + 4]);
                a04 = w0.fma(xv, a04);
                a14 = w1.fma(xv, a14);
                xv = FloatVector.broadcast(F, xp[xk + 5]);
                a05 = w0.fma(xv, a05);
                a15 = w1.fma(xv, a15);
                xv = FloatVector.broadcast(F, xp[xk + 6]);
                a06 = w0.fma(xv, a06);
                a16 = w1.fma(xv, a16);
                xv = FloatVector.broadcast(F, xp[xk + 7]);
                a07 = w0.fma(xv, a07);
                a17 = w1.fma(xv, a17);
            }
            for (int j = 0; j < HALF; j++) {
                ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + j * GROUP);
                ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, q, p + j * GROUP + LANES);
                FloatVector w0 = (SIGNED_HIGH
                        ? ((FloatVector) ((IntVector) v0.convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0)).mul(d0)
                        : ((FloatVector) v0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d0, n0));
                FloatVector w1 = (SIGNED_HIGH
                        ? ((FloatVector) ((IntVector) v1.convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0)).mul(d1)
                        : ((FloatVector) v1.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d1, n1));
                int xk = xo + (c + HALF + j) * TOKENS;
                FloatVector xv = FloatVector.broadcast(F, xp[xk + 0]);
                a00 = w0.fma(xv, a00);
                a10 = w1.fma(xv, a10);
                xv = FloatVector.broadcast(F, xp[xk + 1]);
                a01 = w0.fma(xv, a01);
                a11 = w1.fma(xv, a11);
                xv = FloatVector.broadcast(F, xp[xk + 2]);
                a02 = w0.fma(xv, a02);
                a12 = w1.fma(xv, a12);
                xv = FloatVector.broadcast(F, xp[xk + 3]);
                a03 = w0.fma(xv, a03);
                a13 = w1.fma(xv, a13);
                xv = FloatVector.broadcast(F, xp[xk + 4]);
                a04 = w0.fma(xv, a04);
                a14 = w1.fma(xv, a14);
                xv = FloatVector.broadcast(F, xp[xk + 5]);
                a05 = w0.fma(xv, a05);
                a15 = w1.fma(xv, a15);
                xv = FloatVector.broadcast(F, xp[xk + 6]);
                a06 = w0.fma(xv, a06);
                a16 = w1.fma(xv, a16);
                xv = FloatVector.broadcast(F, xp[xk + 7]);
                a07 = w0.fma(xv, a07);
                a17 = w1.fma(xv, a17);
            }
        }
        keep(touched);
        // Whole vectors for all eight tokens: straight to out when all are wanted, else through a
        // tile (a partial group, or tokens past the last), then copied.
        // zero + acc: see the class comment.
        boolean direct = rows == GROUP && t + TOKENS <= tokens;
        float[] dst = direct ? out : Simd.tile(GROUP * TOKENS);
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
        zero.add(a04).intoArray(dst, o + 4 * stride);
        zero.add(a14).intoArray(dst, o + 4 * stride + LANES);
        zero.add(a05).intoArray(dst, o + 5 * stride);
        zero.add(a15).intoArray(dst, o + 5 * stride + LANES);
        zero.add(a06).intoArray(dst, o + 6 * stride);
        zero.add(a16).intoArray(dst, o + 6 * stride + LANES);
        zero.add(a07).intoArray(dst, o + 7 * stride);
        zero.add(a17).intoArray(dst, o + 7 * stride + LANES);
        if (!direct) {
            Simd.copyTile(dst, Math.min(TOKENS, tokens - t), GROUP, rows, out, t * outStride + row, outStride);
        }
    }


    @Override
    void expandGroup(int g, float[] out, int offset) {
        int so = g * blocks * GROUP;
        int qo = so * HALF;
        for (int b = 0; b < blocks; b++) {
            FloatVector d0 = FloatVector.fromArray(F, scales, so + b * GROUP);
            FloatVector d1 = FloatVector.fromArray(F, scales, so + b * GROUP + LANES);
            FloatVector n0 = d0.mul(-8f);
            FloatVector n1 = d1.mul(-8f);
            int p = qo + b * STEP;
            int o = offset + b * BLOCK * GROUP;
            for (int j = 0; j < HALF; j++) {
                ByteVector v0 = ByteVector.fromArray(Simd.DOT_BYTES, quants, p + j * GROUP);
                ByteVector v1 = ByteVector.fromArray(Simd.DOT_BYTES, quants, p + j * GROUP + LANES);
                ((FloatVector) v0.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d0, n0).intoArray(out, o + j * GROUP);
                ((FloatVector) v1.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d1, n1).intoArray(out, o + j * GROUP + LANES);
                (SIGNED_HIGH
                        ? ((FloatVector) ((IntVector) v0.convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0)).mul(d0)
                        : ((FloatVector) v0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d0, n0)).intoArray(out, o + (HALF + j) * GROUP);
                (SIGNED_HIGH
                        ? ((FloatVector) ((IntVector) v1.convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0)).mul(d1)
                        : ((FloatVector) v1.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0)).fma(d1, n1)).intoArray(out, o + (HALF + j) * GROUP + LANES);
            }
        }
    }
}
