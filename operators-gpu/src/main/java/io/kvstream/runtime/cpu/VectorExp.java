package io.kvstream.runtime.cpu;

import javax.annotation.Nullable;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code exp(x)} for {@code x <= 0} on arrays, in vector lanes, for SiLU and softmax, which only
 * ever need arguments at or below zero.
 *
 * <p>Why not {@code lanewise(EXP)}: Java 17 has no intrinsic for it, and its fallback allocated
 * about 600 KB per decode step. Why not the usual {@code n = (int) (x log2 e)}: Java 17 does not
 * compile {@code convert(F2I)} either (measured: about 500 bytes allocated per 16 lanes; Java 25
 * compiles it). So {@code n} is rounded in float lanes with the {@code 1.5 * 2^23} trick, which
 * leaves {@code n} in the low mantissa bits; {@code e^r} on {@code [-ln2/2, ln2/2]} is Cephes'
 * {@code expf} polynomial (Cody-Waite reduction), and {@code 2^n} is those bits, plus the
 * exponent bias, shifted into the exponent field: reinterpreting lanes costs nothing and compiles
 * on both JDKs. Within 1.01 ulp of the correctly rounded result over {@code [-87.3, 0]}; below
 * {@code ln(2^-126)} the result is zero; NaN stays NaN.
 *
 * <p>{@link #exp(float)} repeats the vector arithmetic operation for operation, so an element
 * gets the same bits whether it falls in a vector or in the loop's tail.
 */
final class VectorExp {

    private static final VectorSpecies<Float> F = VectorMath.F;

    /** {@code ln(2^-126)}: below it the result would not be a normal float. */
    private static final float LOWEST = -87.33654f;
    private static final float LOG2E = 1.44269504088896341f;
    /** Adding and subtracting {@code 1.5 * 2^23} rounds a float of magnitude below 2^22 to an integer. */
    private static final float ROUND = 12582912f;
    /** {@code ln 2} in two parts, the first exact in few bits, so that {@code x - n ln2} loses nothing. */
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float P0 = 1.9875691500e-4f;
    private static final float P1 = 1.3981999507e-3f;
    private static final float P2 = 8.3334519073e-3f;
    private static final float P3 = 4.1665795894e-2f;
    private static final float P4 = 1.6666665459e-1f;
    private static final float P5 = 5.0000001201e-1f;

    private VectorExp() {}

    /**
     * {@code x[i] = e^(x[i] - shift)} for {@code i} in {@code [xo, xo + n)}, where no {@code x[i]}
     * exceeds {@code shift}.
     *
     * <p>The whole vector arithmetic sits in one loop ({@code expVectors}), which no vector enters
     * or leaves through a call: a vector that crosses a call C2 does not inline is allocated, and
     * C2 declined such calls (as "too large" or past its node budget) in some callers and on some
     * JDKs but not others.
     */
    static void expInPlace(float[] x, int xo, int n, float shift) {
        int upper = F.loopBound(n);
        expVectors(x, xo, upper, shift, null, 0);
        for (int i = upper; i < n; i++) {
            x[xo + i] = exp(x[xo + i] - shift);
        }
    }

    /**
     * {@code x[xo + i] = e^(x[xo + i] - shifts[so + i % lanes])} for {@code i} in {@code [0, n)},
     * {@code n} a multiple of the lane count: a shift per lane, for softmaxes that run down the
     * lanes ({@link LaneAttention}).
     */
    static void expInPlace(float[] x, int xo, int n, float[] shifts, int so) {
        if (n % F.length() != 0) {
            throw new IllegalArgumentException(
                    String.format("%d elements are not whole vectors of %d lanes", n, F.length()));
        }
        expVectors(x, xo, n, 0f, shifts, so);
    }

    /** The vectors of the {@code expInPlace}s: one shift for every lane, or one per lane from {@code shifts}. */
    private static void expVectors(float[] x, int xo, int upper, float shift, @Nullable float[] shifts, int so) {
        FloatVector s = shifts == null ? FloatVector.broadcast(F, shift) : FloatVector.fromArray(F, shifts, so);
        for (int i = 0; i < upper; i += F.length()) {
            FloatVector arg = FloatVector.fromArray(F, x, xo + i).sub(s);
            FloatVector v = arg.max(LOWEST);
            // kr = 1.5 * 2^23 + k: the integer k in the low mantissa bits (see exp).
            FloatVector kr = v.fma(FloatVector.broadcast(F, LOG2E), FloatVector.broadcast(F, ROUND));
            FloatVector k = kr.sub(ROUND);
            FloatVector r = k.fma(FloatVector.broadcast(F, -LN2_HI), v);
            r = k.fma(FloatVector.broadcast(F, -LN2_LO), r);
            FloatVector p = r.fma(FloatVector.broadcast(F, P0), FloatVector.broadcast(F, P1));
            p = p.fma(r, FloatVector.broadcast(F, P2));
            p = p.fma(r, FloatVector.broadcast(F, P3));
            p = p.fma(r, FloatVector.broadcast(F, P4));
            p = p.fma(r, FloatVector.broadcast(F, P5));
            p = p.fma(r.mul(r), r).add(1f);
            FloatVector scale = kr.add(127f)
                    .viewAsIntegralLanes()
                    .lanewise(VectorOperators.LSHL, 23)
                    .viewAsFloatingLanes();
            p = p.mul(scale);
            p.blend(0f, arg.compare(VectorOperators.LT, LOWEST)).intoArray(x, xo + i);
        }
    }

    /** {@code e^x} for {@code x <= 0}, with the bits a vector lane of {@link #expInPlace} gets. */
    static float exp(float x) {
        if (x < LOWEST) {
            return 0f;
        }
        float kr = Math.fma(x, LOG2E, ROUND);
        float n = kr - ROUND;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(r, P0, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        p = Math.fma(p, r * r, r) + 1f;
        // The float whose bits are those of kr + 127 shifted up by 23: exactly 2^n.
        return p * Float.intBitsToFloat(Float.floatToRawIntBits(kr + 127f) << 23);
    }
}
