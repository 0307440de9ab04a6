package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** {@link Q8_0Tensor}'s rows interleaved on the heap (see {@link InterleavedTensor}). */
final class Q8_0x4Tensor extends InterleavedTensor {

    private static final int BLOCK = 32;
    private static final int HALF = BLOCK / 2;
    /**
     * With 16-float vectors, {@link #oneToken} spells out a block's two vectors: C2 compiles that
     * better than the two-pass loop the other widths need (all 112 layer matrices of synth 1B, 2
     * threads, alternating runs: 19.7-20.8 -> 22.3-24.3 GB/s on Java 17; Java 25 gains about 5%).
     * Both add in the same order, so the bits are the same. {@link #fourTokens} keeps the loop:
     * spelt out, it grew past what C2 inlines and ran three times slower.
     */
    private static final boolean UNROLLED = Simd.DOT.length() == HALF;
    /** One block of each of a group's rows. */
    private static final int STEP = GROUP * BLOCK;

    Q8_0x4Tensor(Q8_0Tensor source) {
        super(source, BLOCK, BLOCK);
    }

    /** Bytes the copy of a {@code rows x cols} matrix takes on the heap. */
    static long heapBytes(int rows, int cols) {
        return InterleavedTensor.heapBytes(rows, cols, BLOCK, BLOCK);
    }

    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        int slot = rowSlot(row);
        for (int b = 0; b < blocks; b++, slot += GROUP) {
            FloatVector d = FloatVector.broadcast(Simd.DOT, scales[slot]);
            int o = offset + b * BLOCK;
            for (int j = 0; j < BLOCK; j += Simd.DOT.length()) {
                load(quants, slot * BLOCK + j).mul(d).intoArray(out, o + j);
            }
        }
    }

    @Override
    boolean copiesGroups() {
        return false;
    }

    @Override
    void oneToken(byte[] q, float[] s, int slot, float[] x, float[] out, int row, int rows) {
        FloatVector a0 = FloatVector.zero(Simd.DOT);
        FloatVector a1 = FloatVector.zero(Simd.DOT);
        FloatVector a2 = FloatVector.zero(Simd.DOT);
        FloatVector a3 = FloatVector.zero(Simd.DOT);
        for (int b = 0, sp = slot, p = slot * BLOCK, c = 0; b < blocks; b++, sp += GROUP, p += STEP, c += BLOCK) {
            float d0 = s[sp];
            float d1 = s[sp + 1];
            float d2 = s[sp + 2];
            float d3 = s[sp + 3];
            if (UNROLLED) {
                FloatVector xv = FloatVector.fromArray(Simd.DOT, x, c);
                a0 = load(q, p).mul(d0).fma(xv, a0);
                a1 = load(q, p + BLOCK).mul(d1).fma(xv, a1);
                a2 = load(q, p + 2 * BLOCK).mul(d2).fma(xv, a2);
                a3 = load(q, p + 3 * BLOCK).mul(d3).fma(xv, a3);
                xv = FloatVector.fromArray(Simd.DOT, x, c + HALF);
                a0 = load(q, p + HALF).mul(d0).fma(xv, a0);
                a1 = load(q, p + BLOCK + HALF).mul(d1).fma(xv, a1);
                a2 = load(q, p + 2 * BLOCK + HALF).mul(d2).fma(xv, a2);
                a3 = load(q, p + 3 * BLOCK + HALF).mul(d3).fma(xv, a3);
                continue;
            }
            for (int j = 0; j < BLOCK; j += Simd.DOT.length()) {
                FloatVector xv = FloatVector.fromArray(Simd.DOT, x, c + j);
                a0 = load(q, p + j).mul(d0).fma(xv, a0);
                a1 = load(q, p + BLOCK + j).mul(d1).fma(xv, a1);
                a2 = load(q, p + 2 * BLOCK + j).mul(d2).fma(xv, a2);
                a3 = load(q, p + 3 * BLOCK + j).mul(d3).fma(xv, a3);
            }
        }
        Simd.store(out, row, rows, a0.reduceLanes(VectorOperators.ADD),
                a1.reduceLanes(VectorOperators.ADD), a2.reduceLanes(VectorOperators.ADD),
                a3.reduceLanes(VectorOperators.ADD));
    }

    @Override
    void fourTokens(
            byte[] q, float[] s, int slot, float[] x, int xStride, int t, int tokens,
            float[] out, int outStride, int row, int rows) {
        int last = tokens - 1;
        int x0 = t * xStride;
        int x1 = Math.min(t + 1, last) * xStride;
        int x2 = Math.min(t + 2, last) * xStride;
        int x3 = Math.min(t + 3, last) * xStride;
        FloatVector a00 = FloatVector.zero(Simd.DOT);
        FloatVector a01 = FloatVector.zero(Simd.DOT);
        FloatVector a02 = FloatVector.zero(Simd.DOT);
        FloatVector a03 = FloatVector.zero(Simd.DOT);
        FloatVector a10 = FloatVector.zero(Simd.DOT);
        FloatVector a11 = FloatVector.zero(Simd.DOT);
        FloatVector a12 = FloatVector.zero(Simd.DOT);
        FloatVector a13 = FloatVector.zero(Simd.DOT);
        FloatVector a20 = FloatVector.zero(Simd.DOT);
        FloatVector a21 = FloatVector.zero(Simd.DOT);
        FloatVector a22 = FloatVector.zero(Simd.DOT);
        FloatVector a23 = FloatVector.zero(Simd.DOT);
        FloatVector a30 = FloatVector.zero(Simd.DOT);
        FloatVector a31 = FloatVector.zero(Simd.DOT);
        FloatVector a32 = FloatVector.zero(Simd.DOT);
        FloatVector a33 = FloatVector.zero(Simd.DOT);
        for (int b = 0, sp = slot, p = slot * BLOCK, c = 0; b < blocks; b++, sp += GROUP, p += STEP, c += BLOCK) {
            float d0 = s[sp];
            float d1 = s[sp + 1];
            float d2 = s[sp + 2];
            float d3 = s[sp + 3];
            for (int j = 0; j < BLOCK; j += Simd.DOT.length()) {
                FloatVector w0 = load(q, p + j).mul(d0);
                FloatVector w1 = load(q, p + BLOCK + j).mul(d1);
                FloatVector w2 = load(q, p + 2 * BLOCK + j).mul(d2);
                FloatVector w3 = load(q, p + 3 * BLOCK + j).mul(d3);
                FloatVector xv = FloatVector.fromArray(Simd.DOT, x, x0 + c + j);
                a00 = w0.fma(xv, a00);
                a10 = w1.fma(xv, a10);
                a20 = w2.fma(xv, a20);
                a30 = w3.fma(xv, a30);
                xv = FloatVector.fromArray(Simd.DOT, x, x1 + c + j);
                a01 = w0.fma(xv, a01);
                a11 = w1.fma(xv, a11);
                a21 = w2.fma(xv, a21);
                a31 = w3.fma(xv, a31);
                xv = FloatVector.fromArray(Simd.DOT, x, x2 + c + j);
                a02 = w0.fma(xv, a02);
                a12 = w1.fma(xv, a12);
                a22 = w2.fma(xv, a22);
                a32 = w3.fma(xv, a32);
                xv = FloatVector.fromArray(Simd.DOT, x, x3 + c + j);
                a03 = w0.fma(xv, a03);
                a13 = w1.fma(xv, a13);
                a23 = w2.fma(xv, a23);
                a33 = w3.fma(xv, a33);
            }
        }
        Simd.storeTile(out, t, tokens, outStride, row, rows,
                a00.reduceLanes(VectorOperators.ADD), a10.reduceLanes(VectorOperators.ADD),
                a20.reduceLanes(VectorOperators.ADD), a30.reduceLanes(VectorOperators.ADD),
                a01.reduceLanes(VectorOperators.ADD), a11.reduceLanes(VectorOperators.ADD),
                a21.reduceLanes(VectorOperators.ADD), a31.reduceLanes(VectorOperators.ADD),
                a02.reduceLanes(VectorOperators.ADD), a12.reduceLanes(VectorOperators.ADD),
                a22.reduceLanes(VectorOperators.ADD), a32.reduceLanes(VectorOperators.ADD),
                a03.reduceLanes(VectorOperators.ADD), a13.reduceLanes(VectorOperators.ADD),
                a23.reduceLanes(VectorOperators.ADD), a33.reduceLanes(VectorOperators.ADD));
    }


    private static FloatVector load(byte[] q, int at) {
        return Simd.widen(ByteVector.fromArray(Simd.DOT_BYTES, q, at));
    }
}
