package io.kvstream.runtime.cpu;

import io.kvstream.model.tensor.OperatorProfile;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/** Vectorized kernels on float arrays: the element-wise parts of the forward pass. */
public final class VectorMath {

    static final VectorSpecies<Float> F = OperatorProfile.PREFERRED;
    private static final int LANES = F.length();
    /** Whether {@code reduceLanes(ADD)} adds in lane order both compiled and not: Java 17's does. */
    private static final boolean LANE_ORDER_REDUCTION = Runtime.version().feature() == 17;
    /** Lane {@code i} to lane {@code i ^ d}: the steps of {@link #sumLanes}, where the width has them. */
    private static final VectorShuffle<Float> SWAP_8 = swap(8);
    private static final VectorShuffle<Float> SWAP_4 = swap(4);
    private static final VectorShuffle<Float> SWAP_2 = swap(2);
    private static final VectorShuffle<Float> SWAP_1 = swap(1);

    private VectorMath() {}

    private static VectorShuffle<Float> swap(int d) {
        return d < LANES ? VectorShuffle.fromOp(F, i -> i ^ d) : null;
    }

    /**
     * The sum of {@code v}'s lanes, in an order that does not depend on whether the code was
     * compiled. {@code reduceLanes(ADD)} leaves the order to the implementation, and it differs:
     * Java 17 adds in lane order, compiled or not; Java 25's C2 adds as a tree (lane {@code i}
     * plus lane {@code i + n/2}, then the same over the first half, down to one lane) while its
     * interpreter and C1 add in lane order. So on Java 25 a sum's bits depended on whether its
     * code was compiled yet (63,522 of 100,000 random vectors differed), and a token's result on
     * which kernel its step took. Java 17 keeps {@code reduceLanes}; later Javas add as that
     * tree, spelled out, which costs what their {@code reduceLanes} did and gives the same bits
     * compiled or not. (Spelled out on Java 17 too, eight trees inlined into one row-by-row
     * kernel left some JVMs' C2 compiling its FMAs as library calls that allocate.)
     */
    static float sumLanes(FloatVector v) {
        if (LANE_ORDER_REDUCTION) {
            return v.reduceLanes(VectorOperators.ADD);
        }
        if (LANES >= 16) {
            v = v.add(v.rearrange(SWAP_8));
        }
        if (LANES >= 8) {
            v = v.add(v.rearrange(SWAP_4));
        }
        if (LANES >= 4) {
            v = v.add(v.rearrange(SWAP_2));
        }
        if (LANES >= 2) {
            v = v.add(v.rearrange(SWAP_1));
        }
        return v.lane(0);
    }

    /**
     * Sum of {@code a[ao + i] * b[bo + i]} over {@code n} elements, accumulated in fp32: one
     * accumulator of {@link #F} lanes, {@code fma} over the whole vectors in order, {@link
     * #sumLanes}, then the rest one by one.
     */
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

    /** Elements of SwiGLU's {@code e^-|g|} at a time, in a per-thread buffer. */
    private static final int EXP_CHUNK = 512;

    private static final ThreadLocal<float[]> EXP_BUFFER = ThreadLocal.withInitial(() -> new float[EXP_CHUNK]);

    /**
     * {@code gate[i] = silu(gate[i]) * up[i]}: the SwiGLU activation, with {@code silu(g) = g / (1 +
     * e^-g)} computed as {@code g / (1 + e)} for {@code g >= 0} and {@code g e / (1 + e)} below,
     * where {@code e = e^-|g|}, so that {@link VectorExp} only sees arguments at or below zero.
     */
    public static void swiGlu(float[] gate, int go, float[] up, int uo, int n) {
        float[] e = EXP_BUFFER.get();
        for (int from = 0; from < n; from += EXP_CHUNK) {
            int length = Math.min(EXP_CHUNK, n - from);
            int upper = F.loopBound(length);
            int i = 0;
            for (; i < upper; i += F.length()) {
                FloatVector.fromArray(F, gate, go + from + i).abs().neg().intoArray(e, i);
            }
            for (; i < length; i++) {
                e[i] = -Math.abs(gate[go + from + i]);
            }
            VectorExp.expInPlace(e, 0, length, 0f);
            for (i = 0; i < upper; i += F.length()) {
                FloatVector g = FloatVector.fromArray(F, gate, go + from + i);
                FloatVector ev = FloatVector.fromArray(F, e, i);
                g.blend(g.mul(ev), g.compare(VectorOperators.LT, 0f))
                        .div(ev.add(1f))
                        .mul(FloatVector.fromArray(F, up, uo + from + i))
                        .intoArray(gate, go + from + i);
            }
            for (; i < length; i++) {
                float g = gate[go + from + i];
                float numerator = g < 0f ? g * e[i] : g;
                gate[go + from + i] = numerator / (e[i] + 1f) * up[uo + from + i];
            }
        }
    }
}
