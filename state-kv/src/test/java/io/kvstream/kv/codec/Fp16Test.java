package io.kvstream.kv.codec;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class Fp16Test {

    @Test
    void everyHalfSurvivesARoundTrip() {
        for (int h = 0; h < 1 << 16; h++) {
            float f = Fp16.toFloat((short) h);
            if (Float.isNaN(f)) {
                assertThat(Float.isNaN(Fp16.toFloat(Fp16.fromFloat(f)))).isTrue();
            } else {
                assertThat(Fp16.fromFloat(f) & 0xffff).as("half %04x", h).isEqualTo(h);
            }
        }
    }

    @Test
    void roundsToNearestEven() {
        // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties go to even (1).
        assertThat(Fp16.toFloat(Fp16.fromFloat(1f + 0x1p-11f))).isEqualTo(1f);
        assertThat(Fp16.toFloat(Fp16.fromFloat(1f + 3 * 0x1p-11f))).isEqualTo(1f + 2 * 0x1p-10f);
        assertThat(Fp16.toFloat(Fp16.fromFloat(65519f))).isEqualTo(65504f);
        assertThat(Fp16.toFloat(Fp16.fromFloat(65520f))).isInfinite();
        assertThat(Fp16.toFloat(Fp16.fromFloat(0x1p-25f))).isEqualTo(0f);
        assertThat(Fp16.toFloat(Fp16.fromFloat(0x1.8p-25f))).isEqualTo(0x1p-24f);
        assertThat(Fp16.toFloat(Fp16.fromFloat(-3.0e-6f))).isCloseTo(-3.0e-6f, org.assertj.core.data.Offset.offset(0x1p-25f));
    }

    @Test
    void floorAndCeilBracketTheValue() {
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < 100_000; i++) {
            float x = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(8) - 5));
            float lo = Fp16.toFloat(Fp16.floor(x));
            float hi = Fp16.toFloat(Fp16.ceil(x));
            assertThat(lo).isLessThanOrEqualTo(x);
            assertThat(hi).isGreaterThanOrEqualTo(x);
            assertThat(hi - lo).isLessThanOrEqualTo(Math.max(Math.abs(x) * 0x1p-9f, 0x1p-23f));
        }
    }
}
