import jdk.incubator.vector.*;
/** int8-activation kernels vs fp32 fused, one row x one token and 4 rows x 4 tokens, in L1. */
public class VT4 {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;
    static final VectorSpecies<Byte> B32 = ByteVector.SPECIES_256;
    static final VectorSpecies<Short> S = ShortVector.SPECIES_512;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    static FloatVector wf(byte[] q, int at) { return (FloatVector) ByteVector.fromArray(B16, q, at).convertShape(VectorOperators.B2F, F, 0); }

    // fp32 fused: 4 rows x 1 token (as committed)
    static float fp32(byte[] q, int rb, int blocks, float[] x) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (int b = 0, pos = 0, c = 0; b < blocks; b++, pos += 34, c += 32) {
            float d0 = q[pos] * 0.01f, d1 = q[rb + pos] * 0.01f, d2 = q[2 * rb + pos] * 0.01f, d3 = q[3 * rb + pos] * 0.01f;
            for (int j = 0; j < 32; j += 16) {
                FloatVector xv = FloatVector.fromArray(F, x, c + j);
                a0 = wf(q, pos + 2 + j).mul(d0).fma(xv, a0);
                a1 = wf(q, rb + pos + 2 + j).mul(d1).fma(xv, a1);
                a2 = wf(q, 2 * rb + pos + 2 + j).mul(d2).fma(xv, a2);
                a3 = wf(q, 3 * rb + pos + 2 + j).mul(d3).fma(xv, a3);
            }
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }
    // int8 activations (pre-widened to short), weights widened B2S, vpmullw, S2I halves, I2F, fma scale
    static FloatVector blk(byte[] q, int at, ShortVector xs, float scale, FloatVector acc) {
        ShortVector p = ((ShortVector) ByteVector.fromArray(B32, q, at).convertShape(VectorOperators.B2S, S, 0)).mul(xs);
        IntVector s = ((IntVector) p.convertShape(VectorOperators.S2I, I, 0)).add((IntVector) p.convertShape(VectorOperators.S2I, I, 1));
        return ((FloatVector) s.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, scale), acc);
    }
    static float int8(byte[] q, int rb, int blocks, short[] xq, float[] xd) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (int b = 0, pos = 0, c = 0; b < blocks; b++, pos += 34, c += 32) {
            float dx = xd[b];
            ShortVector xs = ShortVector.fromArray(S, xq, c);
            a0 = blk(q, pos + 2, xs, q[pos] * dx, a0);
            a1 = blk(q, rb + pos + 2, xs, q[rb + pos] * dx, a1);
            a2 = blk(q, 2 * rb + pos + 2, xs, q[2 * rb + pos] * dx, a2);
            a3 = blk(q, 3 * rb + pos + 2, xs, q[3 * rb + pos] * dx, a3);
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }
    // auto-vectorized MulAddS2I (vpmaddwd / vpdpwssd) over a pre-widened row, then per-block scale
    static float madd(short[] w, short[] xq, int[] tmp, float[] ws, float[] xd, int cols) {
        for (int i = 0; i < cols / 2; i++) {
            tmp[i] = w[2 * i] * xq[2 * i] + w[2 * i + 1] * xq[2 * i + 1];
        }
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < cols / 32; b++) {
            acc = ((FloatVector) IntVector.fromArray(I, tmp, b * 16).convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, ws[b] * xd[b]), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
    public static void main(String[] a) {
        int cols = 2048, blocks = cols / 32, rb = blocks * 34;
        byte[] q = new byte[4 * rb]; float[] x = new float[cols]; short[] xq = new short[cols]; float[] xd = new float[blocks];
        short[] w = new short[cols]; int[] tmp = new int[cols / 2]; float[] ws = new float[blocks];
        for (int i = 0; i < q.length; i++) q[i] = (byte) (i * 7);
        for (int i = 0; i < cols; i++) { x[i] = i * 0.001f; xq[i] = (short) ((i * 13) % 255 - 127); w[i] = (short) ((i * 7) % 255 - 127); }
        for (int i = 0; i < blocks; i++) { xd[i] = 0.01f; ws[i] = 0.02f; }
        String[] names = {"fp32 fused 4 rows", "int8 act (short mul) 4 rows", "MulAddS2I autovec 1 row"};
        for (int round = 0; round < 3; round++) {
            for (int k = 0; k < 3; k++) {
                long best = Long.MAX_VALUE; float sink = 0;
                for (int rep = 0; rep < 300; rep++) {
                    long t0 = System.nanoTime();
                    for (int it = 0; it < 100; it++) {
                        if (k == 0) sink += fp32(q, rb, blocks, x);
                        else if (k == 1) sink += int8(q, rb, blocks, xq, xd);
                        else sink += madd(w, xq, tmp, ws, xd, cols);
                    }
                    best = Math.min(best, System.nanoTime() - t0);
                }
                int rows = k == 2 ? 1 : 4;
                if (round == 2) System.out.printf("%-30s %.2f G MAC/s %s%n", names[k], 100.0 * rows * cols / best, sink == 1 ? "" : "");
            }
        }
    }
}
