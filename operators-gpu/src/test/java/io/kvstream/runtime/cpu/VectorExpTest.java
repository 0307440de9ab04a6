package io.kvstream.runtime.cpu;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The vector {@code exp} behind SiLU and softmax, and SiLU against double arithmetic (softmax: {@code LaneAttentionTest}). */
class VectorExpTest {

    private static final int LANES = VectorMath.F.length();

    @Test
    void isWithinOneUlpOfTheCorrectlyRoundedExpDownToTheSmallestNormal() {
        // Every 997th float of [-87.3, 0], which takes every exponent and many mantissas.
        float[] x = new float[LANES];
        float[] y = new float[LANES];
        double worst = 0;
        float at = 0;
        int checked = 0;
        float v = -87.3f;
        while (v < 0f) {
            for (int lane = 0; lane < LANES; lane++) {
                x[lane] = v;
                for (int skip = 0; skip < 997 && v < 0f; skip++) {
                    v = Math.nextUp(v);
                }
            }
            System.arraycopy(x, 0, y, 0, LANES);
            VectorExp.expInPlace(y, 0, LANES, 0f);
            for (int lane = 0; lane < LANES; lane++) {
                double exact = Math.exp(x[lane]);
                double ulps = Math.abs(y[lane] - exact) / Math.ulp((float) exact);
                if (ulps > worst) {
                    worst = ulps;
                    at = x[lane];
                }
                checked++;
            }
        }
        assertThat(checked).isGreaterThan(1_000_000);
        assertThat(worst).as("largest error, in ulps, at x = %s", at).isLessThanOrEqualTo(1.02);
    }

    @Test
    void aLaneAndTheScalarFormGiveTheSameBits() {
        Random random = new Random(7);
        int n = 64 * LANES + LANES - 1; // most elements in lanes, the last ones in the scalar tail
        for (int round = 0; round < 400; round++) {
            float[] x = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = round % 2 == 0 ? -random.nextFloat() * 90f : -random.nextFloat();
            }
            float shift = round % 3 == 0 ? 0f : 2.5f;
            float[] y = new float[n];
            for (int i = 0; i < n; i++) {
                y[i] = x[i] + shift;
            }
            VectorExp.expInPlace(y, 0, n, shift);
            for (int i = 0; i < n; i++) {
                float scalar = VectorExp.exp((x[i] + shift) - shift);
                assertThat(Float.floatToRawIntBits(y[i])).as("exp(%s)", x[i]).isEqualTo(Float.floatToRawIntBits(scalar));
            }
            // A shift per lane (LaneAttention's softmax): whole vectors only.
            float[] shifts = new float[LANES];
            for (int i = 0; i < LANES; i++) {
                shifts[i] = round % 3 == 0 ? 0f : 0.5f * i;
            }
            int whole = n - n % LANES;
            float[] z = new float[whole];
            for (int i = 0; i < whole; i++) {
                z[i] = x[i] + shifts[i % LANES];
            }
            VectorExp.expInPlace(z, 0, whole, shifts, 0);
            for (int i = 0; i < whole; i++) {
                float scalar = VectorExp.exp((x[i] + shifts[i % LANES]) - shifts[i % LANES]);
                assertThat(Float.floatToRawIntBits(z[i])).as("exp(%s), lane %s", x[i], i % LANES)
                        .isEqualTo(Float.floatToRawIntBits(scalar));
            }
        }
    }

    @Test
    void edgesAreExact() {
        float[] x = {0f, -0f, -87.34f, -100f, Float.NEGATIVE_INFINITY, Float.NaN, -1e-30f, -87.33f};
        float[] padded = new float[Math.max(LANES, x.length) + LANES];
        System.arraycopy(x, 0, padded, 0, x.length);
        float[] y = padded.clone();
        VectorExp.expInPlace(y, 0, y.length - y.length % LANES, 0f);
        assertThat(y[0]).isEqualTo(1f);
        assertThat(y[1]).isEqualTo(1f);
        assertThat(y[2]).isZero();
        assertThat(y[3]).isZero();
        assertThat(y[4]).isZero();
        assertThat(y[5]).isNaN();
        assertThat(y[6]).isEqualTo(1f);
        assertThat((double) y[7]).isCloseTo(Math.exp(x[7]), within(Math.ulp(1.2e-38f) * 1.02));
        for (int i = 0; i < x.length; i++) {
            assertThat(Float.floatToRawIntBits(VectorExp.exp(x[i]))).isEqualTo(Float.floatToRawIntBits(y[i]));
        }
    }

    @Test
    void swiGluMatchesDoubleArithmeticOnBothSidesOfZero() {
        Random random = new Random(11);
        int n = 8 * LANES + 5; // a tail too
        float[] gate = new float[n];
        float[] up = new float[n];
        for (int i = 0; i < n; i++) {
            gate[i] = (float) (random.nextGaussian() * 6);
            up[i] = (float) random.nextGaussian();
        }
        gate[0] = -200f; // e^200 would overflow a float; silu(-200) is a tiny negative number
        gate[1] = 200f;
        float[] out = gate.clone();
        VectorMath.swiGlu(out, 0, up, 0, n);
        for (int i = 0; i < n; i++) {
            double g = gate[i];
            double expected = g / (1 + Math.exp(-g)) * up[i];
            assertThat((double) out[i]).as("silu(%s) * %s", g, up[i])
                    .isCloseTo(expected, within(Math.abs(expected) * 3e-7 + 1e-30));
        }
    }
}
