package io.kvstream.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/** Vectorized kernels on float arrays: the element-wise parts of the forward pass. */
public final class VectorMath {

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    // Lane i is paired with lane i ^ h; a step whose h is not below the length leaves lanes alone.
    private static final VectorShuffle<Float> XOR32 = pairing(32);
    private static final VectorShuffle<Float> XOR16 = pairing(16);
    private static final VectorShuffle<Float> XOR8 = pairing(8);
    private static final VectorShuffle<Float> XOR4 = pairing(4);
    private static final VectorShuffle<Float> XOR2 = pairing(2);
    private static final VectorShuffle<Float> XOR1 = pairing(1);

    private VectorMath() {}

    private static VectorShuffle<Float> pairing(int h) {
        return VectorShuffle.fromOp(F, i -> h < F.length() ? i ^ h : i);
    }

    /**
     * The sum of the lanes of {@code v}, added in one fixed order: halves, then quarters, and so
     * on. Not {@code reduceLanes(ADD)}, whose order is left to the JDK: Java 25's compiled code
     * adds in a tree while its interpreter (and Java 17's compiled code) adds lane after lane, so
     * the same dot product changed its last bit once the JIT compiled the caller. The shuffles
     * are constants, so C2 compiles each step to one permute and one add, without allocating.
     */
    public static float sumLanes(FloatVector v) {
        if (F.length() > 32) {
            v = v.add(v.rearrange(XOR32));
        }
        if (F.length() > 16) {
            v = v.add(v.rearrange(XOR16));
        }
        if (F.length() > 8) {
            v = v.add(v.rearrange(XOR8));
        }
        if (F.length() > 4) {
            v = v.add(v.rearrange(XOR4));
        }
        if (F.length() > 2) {
            v = v.add(v.rearrange(XOR2));
        }
        if (F.length() > 1) {
            v = v.add(v.rearrange(XOR1));
        }
        return v.lane(0);
    }

    /** Sum of {@code a[ao + i] * b[bo + i]} over {@code n} elements, accumulated in fp32. */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int i = 0;
        int upper = F.loopBound(n);
        FloatVector acc = FloatVector.zero(F);
        for (; i < upper; i += F.length()) {
            acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
        }
        float sum = sumLanes(acc);
        for (; i < n; i++) {
            sum += a[ao + i] * b[bo + i];
        }
        return sum;
    }

    /** {@code y[yo + i] += alpha * x[xo + i]}. */
    public static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int i = 0;
        int upper = F.loopBound(n);
        FloatVector va = FloatVector.broadcast(F, alpha);
        for (; i < upper; i += F.length()) {
            FloatVector.fromArray(F, x, xo + i)
                    .fma(va, FloatVector.fromArray(F, y, yo + i))
                    .intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            y[yo + i] += alpha * x[xo + i];
        }
    }

    /** {@code y[yo + i] += x[xo + i]}. */
    public static void add(float[] x, int xo, float[] y, int yo, int n) {
        int i = 0;
        int upper = F.loopBound(n);
        for (; i < upper; i += F.length()) {
            FloatVector.fromArray(F, x, xo + i)
                    .add(FloatVector.fromArray(F, y, yo + i))
                    .intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            y[yo + i] += x[xo + i];
        }
    }

    /**
     * RMSNorm as Llama defines it: {@code out = x / sqrt(mean(x^2) + eps) * weight}, with the
     * mean taken in fp32.
     */
    public static void rmsNorm(
            float[] x, int xo, float[] weight, float eps, float[] out, int oo, int n) {
        float ss = dot(x, xo, x, xo, n);
        float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
        int i = 0;
        int upper = F.loopBound(n);
        for (; i < upper; i += F.length()) {
            FloatVector.fromArray(F, x, xo + i)
                    .mul(scale)
                    .mul(FloatVector.fromArray(F, weight, i))
                    .intoArray(out, oo + i);
        }
        for (; i < n; i++) {
            out[oo + i] = x[xo + i] * scale * weight[i];
        }
    }

    /** {@code gate[i] = silu(gate[i]) * up[i]}: the SwiGLU activation. */
    public static void swiGlu(float[] gate, int go, float[] up, int uo, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[go + i];
            gate[go + i] = g / (1.0f + (float) Math.exp(-g)) * up[uo + i];
        }
    }

    /** Softmax of {@code x[xo .. xo + n)} in place; returns nothing, sums to one. */
    public static void softmax(float[] x, int xo, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, x[xo + i]);
        }
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[xo + i] - max);
            x[xo + i] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < n; i++) {
            x[xo + i] *= inv;
        }
    }
}
