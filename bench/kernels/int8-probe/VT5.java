import jdk.incubator.vector.*;
/** expanded-row kernels: 16 rows x 32 tokens x 2048 cols (as MatMul's ROW_CHUNK x TOKEN_BLOCK). */
public class VT5 {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    static void k42(float[] w, int wo, int cols, float[] x, int xa, int xb, float[] out, int oa, int ob) {
        int w1 = wo + cols, w2 = w1 + cols, w3 = w2 + cols;
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F), b1 = FloatVector.zero(F), b2 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        for (int c = 0; c < cols; c += 16) {
            FloatVector xv = FloatVector.fromArray(F, x, xa + c), yv = FloatVector.fromArray(F, x, xb + c);
            FloatVector v0 = FloatVector.fromArray(F, w, wo + c), v1 = FloatVector.fromArray(F, w, w1 + c), v2 = FloatVector.fromArray(F, w, w2 + c), v3 = FloatVector.fromArray(F, w, w3 + c);
            a0 = v0.fma(xv, a0); a1 = v1.fma(xv, a1); a2 = v2.fma(xv, a2); a3 = v3.fma(xv, a3);
            b0 = v0.fma(yv, b0); b1 = v1.fma(yv, b1); b2 = v2.fma(yv, b2); b3 = v3.fma(yv, b3);
        }
        out[oa] = a0.reduceLanes(VectorOperators.ADD); out[oa+1] = a1.reduceLanes(VectorOperators.ADD); out[oa+2] = a2.reduceLanes(VectorOperators.ADD); out[oa+3] = a3.reduceLanes(VectorOperators.ADD);
        out[ob] = b0.reduceLanes(VectorOperators.ADD); out[ob+1] = b1.reduceLanes(VectorOperators.ADD); out[ob+2] = b2.reduceLanes(VectorOperators.ADD); out[ob+3] = b3.reduceLanes(VectorOperators.ADD);
    }
    static void k44(float[] w, int wo, int cols, float[] x, int xa, int xs, float[] out, int oa, int os) {
        int w1 = wo + cols, w2 = w1 + cols, w3 = w2 + cols;
        int xb = xa + xs, xc = xb + xs, xd = xc + xs;
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F), b1 = FloatVector.zero(F), b2 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), c2 = FloatVector.zero(F), c3 = FloatVector.zero(F);
        FloatVector d0 = FloatVector.zero(F), d1 = FloatVector.zero(F), d2 = FloatVector.zero(F), d3 = FloatVector.zero(F);
        for (int c = 0; c < cols; c += 16) {
            FloatVector v0 = FloatVector.fromArray(F, w, wo + c), v1 = FloatVector.fromArray(F, w, w1 + c), v2 = FloatVector.fromArray(F, w, w2 + c), v3 = FloatVector.fromArray(F, w, w3 + c);
            FloatVector xv = FloatVector.fromArray(F, x, xa + c);
            a0 = v0.fma(xv, a0); a1 = v1.fma(xv, a1); a2 = v2.fma(xv, a2); a3 = v3.fma(xv, a3);
            xv = FloatVector.fromArray(F, x, xb + c);
            b0 = v0.fma(xv, b0); b1 = v1.fma(xv, b1); b2 = v2.fma(xv, b2); b3 = v3.fma(xv, b3);
            xv = FloatVector.fromArray(F, x, xc + c);
            c0 = v0.fma(xv, c0); c1 = v1.fma(xv, c1); c2 = v2.fma(xv, c2); c3 = v3.fma(xv, c3);
            xv = FloatVector.fromArray(F, x, xd + c);
            d0 = v0.fma(xv, d0); d1 = v1.fma(xv, d1); d2 = v2.fma(xv, d2); d3 = v3.fma(xv, d3);
        }
        float s;
        out[oa] = a0.reduceLanes(VectorOperators.ADD); out[oa+1] = a1.reduceLanes(VectorOperators.ADD); out[oa+2] = a2.reduceLanes(VectorOperators.ADD); out[oa+3] = a3.reduceLanes(VectorOperators.ADD);
        oa += os; out[oa] = b0.reduceLanes(VectorOperators.ADD); out[oa+1] = b1.reduceLanes(VectorOperators.ADD); out[oa+2] = b2.reduceLanes(VectorOperators.ADD); out[oa+3] = b3.reduceLanes(VectorOperators.ADD);
        oa += os; out[oa] = c0.reduceLanes(VectorOperators.ADD); out[oa+1] = c1.reduceLanes(VectorOperators.ADD); out[oa+2] = c2.reduceLanes(VectorOperators.ADD); out[oa+3] = c3.reduceLanes(VectorOperators.ADD);
        oa += os; out[oa] = d0.reduceLanes(VectorOperators.ADD); out[oa+1] = d1.reduceLanes(VectorOperators.ADD); out[oa+2] = d2.reduceLanes(VectorOperators.ADD); out[oa+3] = d3.reduceLanes(VectorOperators.ADD);
    }
    public static void main(String[] a) {
        int cols = Integer.parseInt(a[0]), rows = 16, tokens = 32;
        float[] w = new float[rows * cols], x = new float[tokens * cols], out = new float[tokens * rows];
        for (int i = 0; i < w.length; i++) w[i] = i * 1e-6f;
        for (int i = 0; i < x.length; i++) x[i] = i * 1e-6f;
        for (int round = 0; round < 3; round++) {
            for (int k = 0; k < 2; k++) {
                long best = Long.MAX_VALUE;
                for (int rep = 0; rep < 100; rep++) {
                    long t0 = System.nanoTime();
                    for (int it = 0; it < 10; it++) {
                        for (int r = 0; r < rows; r += 4) {
                            if (k == 0) for (int t = 0; t < tokens; t += 2) k42(w, r * cols, cols, x, t * cols, (t + 1) * cols, out, t * rows + r, (t + 1) * rows + r);
                            else for (int t = 0; t < tokens; t += 4) k44(w, r * cols, cols, x, t * cols, cols, out, t * rows + r, rows);
                        }
                    }
                    best = Math.min(best, System.nanoTime() - t0);
                }
                if (round == 2) System.out.printf("cols %d %s %.2f GMAC/s%n", cols, k == 0 ? "4x2" : "4x4", 10.0 * rows * tokens * cols / best);
            }
        }
    }
}
