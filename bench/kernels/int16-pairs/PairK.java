import jdk.incubator.vector.*;
/**
 * The int16 pair kernel (two 4-bit weights of a row per 32-bit lane, one int broadcast per token)
 * against the fp32 row-lane kernel of RowLaneGemm: 32 rows x 2048 columns x 12 tokens, in cache,
 * one thread. {@code java --add-modules jdk.incubator.vector PairK.java}; output.txt has the
 * figures (docs/benchmarks.md, ninth stop).
 */
public class PairK {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    static final VectorSpecies<Short> S = ShortVector.SPECIES_512;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    static final int COLS = 2048, NR = 12, BLOCKS = COLS / 32;

    // wp: per block b, per pair j (16), 64 shorts: rows 0..15 (lo,hi) pairs then rows 16..31
    // xp: per block b, per pair j, NR ints (token pair x[j] | x[j+16] << 16)
    // ds: per block 32 row scales; xd: per block NR token scales; acc: NR*32 floats
    static void pair(short[] wp, int[] xp, float[] ds, float[] xd, float[] acc) {
        for (int b = 0; b < BLOCKS; b++) {
            ShortVector u0 = ShortVector.zero(S), v0 = ShortVector.zero(S);
            ShortVector u1 = ShortVector.zero(S), v1 = ShortVector.zero(S);
            ShortVector u2 = ShortVector.zero(S), v2 = ShortVector.zero(S);
            ShortVector u3 = ShortVector.zero(S), v3 = ShortVector.zero(S);
            ShortVector u4 = ShortVector.zero(S), v4 = ShortVector.zero(S);
            ShortVector u5 = ShortVector.zero(S), v5 = ShortVector.zero(S);
            ShortVector u6 = ShortVector.zero(S), v6 = ShortVector.zero(S);
            ShortVector u7 = ShortVector.zero(S), v7 = ShortVector.zero(S);
            ShortVector u8 = ShortVector.zero(S), v8 = ShortVector.zero(S);
            ShortVector u9 = ShortVector.zero(S), v9 = ShortVector.zero(S);
            ShortVector u10 = ShortVector.zero(S), v10 = ShortVector.zero(S);
            ShortVector u11 = ShortVector.zero(S), v11 = ShortVector.zero(S);
            int wb = b * 16 * 64, xb = b * 16 * NR;
            for (int j = 0; j < 16; j++) {
                ShortVector w0 = ShortVector.fromArray(S, wp, wb + j * 64);
                ShortVector w1 = ShortVector.fromArray(S, wp, wb + j * 64 + 32);
                int xo = xb + j * NR;
                ShortVector x;
                x = IntVector.broadcast(I, xp[xo]).reinterpretAsShorts(); u0 = w0.mul(x).add(u0); v0 = w1.mul(x).add(v0);
                x = IntVector.broadcast(I, xp[xo + 1]).reinterpretAsShorts(); u1 = w0.mul(x).add(u1); v1 = w1.mul(x).add(v1);
                x = IntVector.broadcast(I, xp[xo + 2]).reinterpretAsShorts(); u2 = w0.mul(x).add(u2); v2 = w1.mul(x).add(v2);
                x = IntVector.broadcast(I, xp[xo + 3]).reinterpretAsShorts(); u3 = w0.mul(x).add(u3); v3 = w1.mul(x).add(v3);
                x = IntVector.broadcast(I, xp[xo + 4]).reinterpretAsShorts(); u4 = w0.mul(x).add(u4); v4 = w1.mul(x).add(v4);
                x = IntVector.broadcast(I, xp[xo + 5]).reinterpretAsShorts(); u5 = w0.mul(x).add(u5); v5 = w1.mul(x).add(v5);
                x = IntVector.broadcast(I, xp[xo + 6]).reinterpretAsShorts(); u6 = w0.mul(x).add(u6); v6 = w1.mul(x).add(v6);
                x = IntVector.broadcast(I, xp[xo + 7]).reinterpretAsShorts(); u7 = w0.mul(x).add(u7); v7 = w1.mul(x).add(v7);
                x = IntVector.broadcast(I, xp[xo + 8]).reinterpretAsShorts(); u8 = w0.mul(x).add(u8); v8 = w1.mul(x).add(v8);
                x = IntVector.broadcast(I, xp[xo + 9]).reinterpretAsShorts(); u9 = w0.mul(x).add(u9); v9 = w1.mul(x).add(v9);
                x = IntVector.broadcast(I, xp[xo + 10]).reinterpretAsShorts(); u10 = w0.mul(x).add(u10); v10 = w1.mul(x).add(v10);
                x = IntVector.broadcast(I, xp[xo + 11]).reinterpretAsShorts(); u11 = w0.mul(x).add(u11); v11 = w1.mul(x).add(v11);
            }
            FloatVector d0 = FloatVector.fromArray(F, ds, b * 32), d1 = FloatVector.fromArray(F, ds, b * 32 + 16);
            int xd0 = b * NR;
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 0]);
              IntVector iu = u0.reinterpretAsInts(), iv = v0.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 0)).intoArray(acc, 0);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 16)).intoArray(acc, 16); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 1]);
              IntVector iu = u1.reinterpretAsInts(), iv = v1.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 32)).intoArray(acc, 32);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 48)).intoArray(acc, 48); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 2]);
              IntVector iu = u2.reinterpretAsInts(), iv = v2.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 64)).intoArray(acc, 64);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 80)).intoArray(acc, 80); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 3]);
              IntVector iu = u3.reinterpretAsInts(), iv = v3.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 96)).intoArray(acc, 96);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 112)).intoArray(acc, 112); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 4]);
              IntVector iu = u4.reinterpretAsInts(), iv = v4.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 128)).intoArray(acc, 128);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 144)).intoArray(acc, 144); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 5]);
              IntVector iu = u5.reinterpretAsInts(), iv = v5.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 160)).intoArray(acc, 160);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 176)).intoArray(acc, 176); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 6]);
              IntVector iu = u6.reinterpretAsInts(), iv = v6.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 192)).intoArray(acc, 192);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 208)).intoArray(acc, 208); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 7]);
              IntVector iu = u7.reinterpretAsInts(), iv = v7.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 224)).intoArray(acc, 224);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 240)).intoArray(acc, 240); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 8]);
              IntVector iu = u8.reinterpretAsInts(), iv = v8.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 256)).intoArray(acc, 256);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 272)).intoArray(acc, 272); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 9]);
              IntVector iu = u9.reinterpretAsInts(), iv = v9.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 288)).intoArray(acc, 288);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 304)).intoArray(acc, 304); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 10]);
              IntVector iu = u10.reinterpretAsInts(), iv = v10.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 320)).intoArray(acc, 320);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 336)).intoArray(acc, 336); }
            { FloatVector e = FloatVector.broadcast(F, xd[xd0 + 11]);
              IntVector iu = u11.reinterpretAsInts(), iv = v11.reinterpretAsInts();
              IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              IntVector sv = iv.add(iv.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
              ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d0.mul(e), FloatVector.fromArray(F, acc, 352)).intoArray(acc, 352);
              ((FloatVector) sv.convert(VectorOperators.I2F, 0)).fma(d1.mul(e), FloatVector.fromArray(F, acc, 368)).intoArray(acc, 368); }
        }
    }

    static void fp32(float[] s, float[] x, float[] out) {
        FloatVector a0_0 = FloatVector.zero(F), a1_0 = FloatVector.zero(F), a0_1 = FloatVector.zero(F), a1_1 = FloatVector.zero(F);
        FloatVector a0_2 = FloatVector.zero(F), a1_2 = FloatVector.zero(F), a0_3 = FloatVector.zero(F), a1_3 = FloatVector.zero(F);
        FloatVector a0_4 = FloatVector.zero(F), a1_4 = FloatVector.zero(F), a0_5 = FloatVector.zero(F), a1_5 = FloatVector.zero(F);
        FloatVector a0_6 = FloatVector.zero(F), a1_6 = FloatVector.zero(F), a0_7 = FloatVector.zero(F), a1_7 = FloatVector.zero(F);
        FloatVector a0_8 = FloatVector.zero(F), a1_8 = FloatVector.zero(F), a0_9 = FloatVector.zero(F), a1_9 = FloatVector.zero(F);
        FloatVector a0_10 = FloatVector.zero(F), a1_10 = FloatVector.zero(F), a0_11 = FloatVector.zero(F), a1_11 = FloatVector.zero(F);
        for (int k = 0; k < COLS; k++) {
            FloatVector w0 = FloatVector.fromArray(F, s, k * 32), w1 = FloatVector.fromArray(F, s, k * 32 + 16);
            int xk = k * NR; FloatVector xv;
            xv = FloatVector.broadcast(F, x[xk]); a0_0 = w0.fma(xv, a0_0); a1_0 = w1.fma(xv, a1_0);
            xv = FloatVector.broadcast(F, x[xk + 1]); a0_1 = w0.fma(xv, a0_1); a1_1 = w1.fma(xv, a1_1);
            xv = FloatVector.broadcast(F, x[xk + 2]); a0_2 = w0.fma(xv, a0_2); a1_2 = w1.fma(xv, a1_2);
            xv = FloatVector.broadcast(F, x[xk + 3]); a0_3 = w0.fma(xv, a0_3); a1_3 = w1.fma(xv, a1_3);
            xv = FloatVector.broadcast(F, x[xk + 4]); a0_4 = w0.fma(xv, a0_4); a1_4 = w1.fma(xv, a1_4);
            xv = FloatVector.broadcast(F, x[xk + 5]); a0_5 = w0.fma(xv, a0_5); a1_5 = w1.fma(xv, a1_5);
            xv = FloatVector.broadcast(F, x[xk + 6]); a0_6 = w0.fma(xv, a0_6); a1_6 = w1.fma(xv, a1_6);
            xv = FloatVector.broadcast(F, x[xk + 7]); a0_7 = w0.fma(xv, a0_7); a1_7 = w1.fma(xv, a1_7);
            xv = FloatVector.broadcast(F, x[xk + 8]); a0_8 = w0.fma(xv, a0_8); a1_8 = w1.fma(xv, a1_8);
            xv = FloatVector.broadcast(F, x[xk + 9]); a0_9 = w0.fma(xv, a0_9); a1_9 = w1.fma(xv, a1_9);
            xv = FloatVector.broadcast(F, x[xk + 10]); a0_10 = w0.fma(xv, a0_10); a1_10 = w1.fma(xv, a1_10);
            xv = FloatVector.broadcast(F, x[xk + 11]); a0_11 = w0.fma(xv, a0_11); a1_11 = w1.fma(xv, a1_11);
        }
        a0_0.add(a1_0).add(a0_1).add(a1_1).add(a0_2).add(a1_2).add(a0_3).add(a1_3).add(a0_4).add(a1_4).add(a0_5).add(a1_5)
            .add(a0_6).add(a1_6).add(a0_7).add(a1_7).add(a0_8).add(a1_8).add(a0_9).add(a1_9).add(a0_10).add(a1_10).add(a0_11).add(a1_11).intoArray(out, 0);
    }

    public static void main(String[] a) {
        java.util.Random r = new java.util.Random(1);
        short[] wp = new short[BLOCKS * 16 * 64]; for (int i = 0; i < wp.length; i++) wp[i] = (short) (r.nextInt(16) - 8);
        int[] xp = new int[BLOCKS * 16 * NR]; for (int i = 0; i < xp.length; i++) xp[i] = ((r.nextInt(255) - 127) & 0xffff) | ((r.nextInt(255) - 127) << 16);
        float[] ds = new float[BLOCKS * 32]; for (int i = 0; i < ds.length; i++) ds[i] = r.nextFloat();
        float[] xd = new float[BLOCKS * NR]; for (int i = 0; i < xd.length; i++) xd[i] = r.nextFloat();
        float[] acc = new float[NR * 32];
        float[] s = new float[COLS * 32]; for (int i = 0; i < s.length; i++) s[i] = r.nextFloat();
        float[] x = new float[COLS * NR]; for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
        float[] out = new float[16];
        double macs = 32.0 * COLS * NR;
        for (int round = 0; round < 6; round++) {
            int n = 20000;
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) pair(wp, xp, ds, xd, acc);
            long t1 = System.nanoTime();
            for (int i = 0; i < n; i++) fp32(s, x, out);
            long t2 = System.nanoTime();
            System.out.printf("pair %.1f GMAC/s   fp32 %.1f GMAC/s  (%f %f)%n", macs * n / (t1 - t0), macs * n / (t2 - t1), acc[5], out[3]);
        }
    }
}
