package io.kvstream.kv.codec;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

class CodecRoundTripTest {

    private static final int D = 64;

    /** Gaussian rows with a few outlier channels, like real keys. */
    private static float[] data(int tokens, long seed) {
        Random r = new Random(seed);
        float[] x = new float[tokens * D];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian() * ((i % D) % 16 == 5 ? 10f : 1f) + ((i % D) == 9 ? 3f : 0f);
        }
        return x;
    }

    private static float[][] roundTrip(KvCodec codec, float[] k, float[] v, int slot, int n, int residual) {
        byte[] buf = new byte[codec.encodedBytes(n, residual) + 3];
        int written = codec.encode(k, v, slot, n, residual, buf, 3);
        assertThat(written).isEqualTo(codec.encodedBytes(n, residual));
        float[] k2 = new float[k.length];
        float[] v2 = new float[v.length];
        codec.decode(buf, 3, n, residual, k2, v2, slot);
        return new float[][] {k2, v2};
    }

    @Test
    void fp32IsLossless() {
        float[] k = data(10, 1);
        float[] v = data(10, 2);
        float[][] out = roundTrip(new Fp32Codec(D), k, v, 0, 10, 0);
        assertThat(out[0]).isEqualTo(k);
        assertThat(out[1]).isEqualTo(v);
    }

    @Test
    void fp16ErrorIsHalfAnUlp() {
        float[] k = data(20, 3);
        float[] v = data(20, 4);
        float[][] out = roundTrip(new Fp16Codec(D), k, v, 2, 18, 0);
        for (int i = 2 * D; i < 20 * D; i++) {
            assertThat(Math.abs(out[0][i] - k[i])).isLessThanOrEqualTo(Math.abs(k[i]) * 0x1p-11f + 0x1p-25f);
            assertThat(Math.abs(out[1][i] - v[i])).isLessThanOrEqualTo(Math.abs(v[i]) * 0x1p-11f + 0x1p-25f);
        }
    }

    @Test
    void int8ErrorIsAtMostHalfAStepPerToken() {
        int n = 40;
        float[] k = data(n, 5);
        float[] v = data(n, 6);
        // A zero row must not divide by zero.
        java.util.Arrays.fill(k, 7 * D, 8 * D, 0f);
        float[][] out = roundTrip(new Int8Codec(D), k, v, 0, n, 0);
        for (int which = 0; which < 2; which++) {
            float[] x = which == 0 ? k : v;
            for (int t = 0; t < n; t++) {
                float absMax = 0f;
                for (int c = 0; c < D; c++) {
                    absMax = Math.max(absMax, Math.abs(x[t * D + c]));
                }
                float scale = Int8Codec.scaleFor(absMax);
                assertThat(scale).isGreaterThanOrEqualTo(absMax / 127f);
                for (int c = 0; c < D; c++) {
                    int i = t * D + c;
                    assertThat(Math.abs(out[which][i] - x[i]))
                            .as("token %d channel %d", t, c)
                            .isLessThanOrEqualTo(scale / 2 * (1 + 1e-6f) + 1e-7f);
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"4, 64, 0", "2, 64, 0", "4, 40, 8", "2, 40, 8", "4, 20, 0", "2, 31, 31", "4, 1, 0"})
    void kiviErrorIsWithinHalfAStepOfItsGroup(int bits, int n, int residual) {
        KiviCodec codec = new KiviCodec(bits, D, 32, 32);
        float[] k = data(n, 7 + bits);
        float[] v = data(n, 8 + bits);
        float[][] out = roundTrip(codec, k, v, 0, n, residual);
        int levels = (1 << bits) - 1;
        int quantized = n - residual;
        // Keys: per channel over each group of 32 tokens (the last one partial).
        for (int g = 0; g < quantized; g += 32) {
            int end = Math.min(quantized, g + 32);
            for (int c = 0; c < D; c++) {
                float mn = Float.MAX_VALUE;
                float mx = -Float.MAX_VALUE;
                for (int t = g; t < end; t++) {
                    mn = Math.min(mn, k[t * D + c]);
                    mx = Math.max(mx, k[t * D + c]);
                }
                float step = (mx - mn) / levels;
                float bound = step / 2 + (Math.abs(mn) + Math.abs(mx)) * 0x1p-10f + 1e-6f;
                for (int t = g; t < end; t++) {
                    assertThat(Math.abs(out[0][t * D + c] - k[t * D + c]))
                            .as("key token %d channel %d", t, c).isLessThanOrEqualTo(bound);
                }
            }
        }
        // Values: per token over groups of 32 channels.
        for (int t = 0; t < quantized; t++) {
            for (int g = 0; g < D; g += 32) {
                float mn = Float.MAX_VALUE;
                float mx = -Float.MAX_VALUE;
                for (int c = g; c < g + 32; c++) {
                    mn = Math.min(mn, v[t * D + c]);
                    mx = Math.max(mx, v[t * D + c]);
                }
                float step = (mx - mn) / levels;
                float bound = step / 2 + (Math.abs(mn) + Math.abs(mx)) * 0x1p-10f + 1e-6f;
                for (int c = g; c < g + 32; c++) {
                    assertThat(Math.abs(out[1][t * D + c] - v[t * D + c]))
                            .as("value token %d channel %d", t, c).isLessThanOrEqualTo(bound);
                }
            }
        }
        // The residual is fp16, exactly.
        for (int i = quantized * D; i < n * D; i++) {
            assertThat(out[0][i]).isEqualTo(Fp16.round(k[i]));
            assertThat(out[1][i]).isEqualTo(Fp16.round(v[i]));
        }
    }

    /**
     * An 8-bit residual keeps each trailing key and value row within half an int8 step of the
     * row's range, and what it reproduced encodes to itself (the cache re-encodes the open block
     * at every step from what it decoded).
     */
    @ParameterizedTest
    @CsvSource({"2, 40, 8", "4, 40, 8", "2, 31, 31", "2, 64, 0"})
    void kiviInt8ResidualIsWithinHalfAnInt8Step(int bits, int n, int residual) {
        KiviCodec codec = new KiviCodec(bits, D, 32, 64, KiviCodec.Residual.INT8);
        float[] k = data(n, 17 + bits);
        float[] v = data(n, 18 + bits);
        float[][] out = roundTrip(codec, k, v, 0, n, residual);
        for (int t = n - residual; t < n; t++) {
            for (int which = 0; which < 2; which++) {
                float[] x = which == 0 ? k : v;
                float mn = Float.MAX_VALUE;
                float mx = -Float.MAX_VALUE;
                for (int c = 0; c < D; c++) {
                    mn = Math.min(mn, x[t * D + c]);
                    mx = Math.max(mx, x[t * D + c]);
                }
                // The fp16 scale is rounded up: at most 2^-10 of a step more.
                float bound = (mx - mn) / 255 / 2 * (1 + 0x1p-9f) + 1e-6f;
                for (int c = 0; c < D; c++) {
                    assertThat(Math.abs(out[which][t * D + c] - x[t * D + c]))
                            .as("%s token %d channel %d", which == 0 ? "key" : "value", t, c)
                            .isLessThanOrEqualTo(bound);
                }
            }
        }
        float[][] again = roundTrip(codec, out[0], out[1], 0, n, residual);
        assertThat(again[0]).isEqualTo(out[0]);
        assertThat(again[1]).isEqualTo(out[1]);
    }

    @Test
    void kiviSizesAreDense() {
        KiviCodec kivi4 = new KiviCodec(4, D, 32, 32);
        KiviCodec kivi2 = new KiviCodec(2, D, 32, 32);
        // 32 tokens: keys 64 channels x (scale + zero) + 32 x 64 codes; values per token 2 groups x 4 + codes.
        assertThat(kivi4.encodedBytes(32, 0)).isEqualTo(64 * 4 + 32 * 64 / 2 + 32 * (8 + 32));
        assertThat(kivi2.encodedBytes(32, 0)).isEqualTo(64 * 4 + 32 * 64 / 4 + 32 * (8 + 16));
        // A residual token costs fp16 key and value.
        assertThat(kivi2.encodedBytes(33, 1) - kivi2.encodedBytes(32, 0)).isEqualTo(64 * 2 * 2);
        // An 8-bit residual token: a key and a value row of 64 codes with a fp16 scale and zero each.
        KiviCodec int8Residual = new KiviCodec(2, D, 32, 32, KiviCodec.Residual.INT8);
        assertThat(int8Residual.encodedBytes(33, 1) - int8Residual.encodedBytes(32, 0)).isEqualTo(2 * (4 + 64));
        assertThat(kivi2.residual(40, true)).isEqualTo(8);
        assertThat(kivi2.residual(40, false)).isZero();
        assertThat(kivi2.residual(64, true)).isZero();
    }

    /** Re-encoding what a codec reproduced gives it back: the cache re-encodes open blocks each step. */
    @ParameterizedTest
    @ValueSource(strings = {"fp16", "int8", "kivi4", "kivi2"})
    void decodedDataIsAFixedPoint(String name) {
        KvCodec codec = io.kvstream.kv.KvSpec.parse(name).newCodec(D);
        int n = 64;
        float[][] once = roundTrip(codec, data(n, 11), data(n, 12), 0, n, 0);
        float[][] twice = roundTrip(codec, once[0], once[1], 0, n, 0);
        assertThat(twice[0]).isEqualTo(once[0]);
        assertThat(twice[1]).isEqualTo(once[1]);
    }
}
