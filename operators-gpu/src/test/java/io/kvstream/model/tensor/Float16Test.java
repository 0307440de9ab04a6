package io.kvstream.model.tensor;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

class Float16Test {

    @Test
    void everyHalfFloatRoundTrips() {
        for (int h = 0; h < 1 << 16; h++) {
            float f = Float16.toFloat(h);
            if (Float.isNaN(f)) {
                assertThat(Float.isNaN(Float16.toFloat(Float16.fromFloat(f)))).isTrue();
                continue;
            }
            assertThat(Float16.fromFloat(f) & 0xFFFF).as("half 0x%04x", h).isEqualTo(h);
        }
    }

    @Test
    void knownValues() {
        assertThat(Float16.toFloat((short) 0x3C00)).isEqualTo(1.0f);
        assertThat(Float16.toFloat((short) 0xC000)).isEqualTo(-2.0f);
        assertThat(Float16.toFloat((short) 0x7BFF)).isEqualTo(65504f);
        assertThat(Float16.toFloat((short) 0x0001)).isEqualTo(0x1p-24f);
        assertThat(Float16.toFloat((short) 0x7C00)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(Float16.fromFloat(65520f)).isEqualTo((short) 0x7C00);
        assertThat(Float16.fromFloat(1e-8f)).isEqualTo((short) 0);
    }

    @Test
    void roundsToNearestEven() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < 200_000; i++) {
            float f = (float) ((rnd.nextDouble() * 2 - 1) * Math.pow(2, rnd.nextInt(-26, 16)));
            short h = Float16.fromFloat(f);
            double err = Math.abs((double) Float16.toFloat(h) - f);
            // Neither neighbour of the result is closer (ties must go to the even one).
            for (int delta : new int[] {-1, 1}) {
                short n = (short) (h + delta);
                if (((n ^ h) & 0x8000) != 0 || ((n >>> 10) & 0x1F) == 0x1F) {
                    continue;
                }
                double nErr = Math.abs((double) Float16.toFloat(n) - f);
                assertThat(err).as("%s -> %04x", f, h).isLessThanOrEqualTo(nErr);
                if (err == nErr) {
                    assertThat(h & 1).isZero();
                }
            }
        }
    }

    @Test
    void bfloat16RoundsToNearest() {
        assertThat(Float16.bf16ToFloat(Float16.bf16FromFloat(1.0f))).isEqualTo(1.0f);
        // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even gives 1.0.
        assertThat(Float16.bf16ToFloat(Float16.bf16FromFloat(1.00390625f))).isEqualTo(1.0f);
        assertThat(Float16.bf16ToFloat(Float16.bf16FromFloat(Math.nextUp(1.00390625f)))).isEqualTo(1.0078125f);
    }
}
