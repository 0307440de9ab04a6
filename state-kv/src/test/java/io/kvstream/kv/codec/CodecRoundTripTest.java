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
            assertWithinHalfAnInt8Step(k, out[0], t, "key");
            assertWithinHalfAnInt8Step(v, out[1], t, "value");
        }
        float[][] again = roundTrip(codec, out[0], out[1], 0, n, residual);
        assertThat(again[0]).isEqualTo(out[0]);
        assertThat(again[1]).isEqualTo(out[1]);
    }

    private static float rowMin(float[] x, int t) {
        float mn = Float.MAX_VALUE;
        for (int c = 0; c < D; c++) {
            mn = Math.min(mn, x[t * D + c]);
        }
        return mn;
    }

    private static float rowMax(float[] x, int t) {
        float mx = -Float.MAX_VALUE;
        for (int c = 0; c < D; c++) {
            mx = Math.max(mx, x[t * D + c]);
        }
        return mx;
    }

    /** An int8 row of token {@code t}: every element within half a step of its row's range. */
    private static void assertWithinHalfAnInt8Step(float[] x, float[] decoded, int t, String what) {
        float mn = rowMin(x, t);
        float mx = rowMax(x, t);
        // The fp16 scale is rounded up: at most 2^-10 of a step more.
        float bound = (mx - mn) / 255 / 2 * (1 + 0x1p-9f) + 1e-6f;
        for (int c = 0; c < D; c++) {
            assertThat(Math.abs(decoded[t * D + c] - x[t * D + c]))
                    .as("%s token %d channel %d", what, t, c)
                    .isLessThanOrEqualTo(bound);
        }
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

    /** Values at their own bits: within half a step of a grid of {@code 2^vbits - 1} levels. */
    @ParameterizedTest
    @CsvSource({"2, 2", "2, 3", "2, 4", "4, 3"})
    void kiviValueBitsSetTheValueGrid(int bits, int valueBits) {
        KiviCodec codec = new KiviCodec(bits, D, 32, 64, KiviCodec.Residual.INT8, valueBits, KiviCodec.KeyMeta.FP16);
        int n = 64;
        float[] k = data(n, 27);
        float[] v = data(n, 28);
        float[][] out = roundTrip(codec, k, v, 0, n, 0);
        int levels = (1 << valueBits) - 1;
        for (int t = 0; t < n; t++) {
            float mn = rowMin(v, t);
            float mx = rowMax(v, t);
            float bound = (mx - mn) / levels / 2 + (Math.abs(mn) + Math.abs(mx)) * 0x1p-10f + 1e-6f;
            for (int c = 0; c < D; c++) {
                assertThat(Math.abs(out[1][t * D + c] - v[t * D + c]))
                        .as("value token %d channel %d", t, c).isLessThanOrEqualTo(bound);
            }
        }
        // And the value grid is finer by the levels it adds: mean error within 60% of a step's quarter.
        double err = 0;
        for (int i = 0; i < n * D; i++) {
            err += Math.abs(out[1][i] - v[i]);
        }
        assertThat(err / (n * D)).isLessThan(meanRange(v, n) / levels / 4 * 1.6);
    }

    private static double meanRange(float[] v, int n) {
        double sum = 0;
        for (int t = 0; t < n; t++) {
            float mn = rowMin(v, t);
            float mx = rowMax(v, t);
            sum += mx - mn;
        }
        return sum / n;
    }

    /**
     * 8-bit scale and zero codes: each key stays within half of its channel's Q8 step, which is
     * the fp16 grid's widened by at most a zero step and a scale code (or raised to the floor
     * that keeps the grid a fixed point), and the keys' mean error grows by little.
     */
    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void q8KeyMetaStaysCloseToTheFp16Grid(int bits) {
        int n = 32;
        KiviCodec fp16 = new KiviCodec(bits, D, 32, 64, KiviCodec.Residual.INT8, bits, KiviCodec.KeyMeta.FP16);
        KiviCodec q8 = new KiviCodec(bits, D, 32, 64, KiviCodec.Residual.INT8, bits, KiviCodec.KeyMeta.Q8);
        int levels = (1 << bits) - 1;
        double errFp16 = 0;
        double errQ8 = 0;
        for (int seed = 0; seed < 20; seed++) {
            float[] k = data(n, 100 + seed);
            float[] v = data(n, 200 + seed);
            float[][] a = roundTrip(fp16, k, v, 0, n, 0);
            float[][] b = roundTrip(q8, k, v, 0, n, 0);
            float lowestMin = Float.MAX_VALUE;
            float highestMin = -Float.MAX_VALUE;
            for (int c = 0; c < D; c++) {
                lowestMin = Math.min(lowestMin, channelMin(k, n, c));
                highestMin = Math.max(highestMin, channelMin(k, n, c));
            }
            float zeroStep = (highestMin - lowestMin) / 255 * (1 + 0x1p-9f);
            float widest = 0f;
            for (int c = 0; c < D; c++) {
                widest = Math.max(widest, (channelMax(k, n, c) - channelMin(k, n, c) + zeroStep) / levels);
            }
            float unit = Math.max(widest, 2.25f * zeroStep) / 255 * (1 + 0x1p-9f);
            for (int c = 0; c < D; c++) {
                float need = (channelMax(k, n, c) - channelMin(k, n, c) + zeroStep) / levels;
                float step = Math.max(need + unit, Math.max(2.25f * zeroStep + unit, 2 * levels * unit));
                float bound = step / 2 * 1.001f + 1e-4f;
                for (int t = 0; t < n; t++) {
                    int i = t * D + c;
                    assertThat(Math.abs(b[0][i] - k[i])).as("seed %d key %d channel %d", seed, t, c)
                            .isLessThanOrEqualTo(bound);
                    errFp16 += Math.abs(a[0][i] - k[i]);
                    errQ8 += Math.abs(b[0][i] - k[i]);
                }
            }
            // Values do not depend on how key groups store their grid.
            assertThat(b[1]).isEqualTo(a[1]);
        }
        assertThat(errQ8).isLessThan(errFp16 * 1.25);
    }

    private static float channelMin(float[] x, int n, int c) {
        float m = Float.MAX_VALUE;
        for (int t = 0; t < n; t++) {
            m = Math.min(m, x[t * D + c]);
        }
        return m;
    }

    private static float channelMax(float[] x, int n, int c) {
        float m = -Float.MAX_VALUE;
        for (int t = 0; t < n; t++) {
            m = Math.max(m, x[t * D + c]);
        }
        return m;
    }

    /**
     * A Q8 grid is a fixed point: over many groups, what it reproduces encodes to itself, as the
     * cache's re-encoding of open blocks needs (else keys would drift at every step).
     */
    @ParameterizedTest
    @ValueSource(strings = {"kivi2:kmeta=q8", "kivi4:kmeta=q8", "kivi2:vbits=3,kmeta=q8,residual=token"})
    void q8KeyGroupsAreFixedPoints(String name) {
        KvCodec codec = io.kvstream.kv.KvSpec.parse(name).newCodec(D);
        for (int seed = 0; seed < 200; seed++) {
            int n = 20 + seed % 45;
            float[] k = data(n, 300 + seed);
            float[] v = data(n, 400 + seed);
            int residual = codec.residual(n, true);
            float[][] once = roundTrip(codec, k, v, 0, n, residual);
            float[][] twice = roundTrip(codec, once[0], once[1], 0, n, residual);
            assertThat(twice[0]).as("seed %d", seed).isEqualTo(once[0]);
            assertThat(twice[1]).as("seed %d", seed).isEqualTo(once[1]);
        }
    }

    /**
     * A keys8 residual: trailing keys within half an int8 step of their row's range, and every
     * value, trailing or not, exactly what a run without residual gives (values are per token).
     */
    @ParameterizedTest
    @CsvSource({"3, 40, 8", "2, 31, 31", "4, 45, 13"})
    void keys8ResidualQuantizesValuesAtOnce(int valueBits, int n, int residual) {
        KiviCodec codec = new KiviCodec(2, D, 32, 64, KiviCodec.Residual.KEYS8, valueBits, KiviCodec.KeyMeta.Q8);
        float[] k = data(n, 37);
        float[] v = data(n, 38);
        float[][] out = roundTrip(codec, k, v, 0, n, residual);
        float[][] sealed = roundTrip(codec, k, v, 0, n, 0);
        assertThat(out[1]).isEqualTo(sealed[1]);
        for (int t = n - residual; t < n; t++) {
            assertWithinHalfAnInt8Step(k, out[0], t, "key");
        }
        // A trailing token costs its value row and an int8 key row.
        int row = 4 + BitPacking.packedBytes(D, valueBits);
        assertThat(codec.encodedBytes(n, residual) - codec.encodedBytes(n - residual, 0))
                .isEqualTo(residual * (row + 4 + D));
        float[][] again = roundTrip(codec, out[0], out[1], 0, n, residual);
        assertThat(again[0]).isEqualTo(out[0]);
        assertThat(again[1]).isEqualTo(out[1]);
    }

    @Test
    void valueBitsAndQ8KeyMetaSizes() {
        KiviCodec v3 = new KiviCodec(2, D, 32, 64, KiviCodec.Residual.INT8, 3, KiviCodec.KeyMeta.FP16);
        KiviCodec v3q8 = new KiviCodec(2, D, 32, 64, KiviCodec.Residual.INT8, 3, KiviCodec.KeyMeta.Q8);
        KiviCodec v4q8 = new KiviCodec(2, D, 32, 64, KiviCodec.Residual.INT8, 4, KiviCodec.KeyMeta.Q8);
        // Keys: 64 fp16 scales and zeros, or three fp16 references and 64 scale and zero codes.
        // Values: per token one fp16 scale and zero, then 64 codes of 3 bits (24 bytes) or 4.
        assertThat(v3.encodedBytes(32, 0)).isEqualTo(64 * 4 + 32 * 64 / 4 + 32 * (4 + 24));
        assertThat(v3q8.encodedBytes(32, 0)).isEqualTo(6 + 64 * 2 + 32 * 64 / 4 + 32 * (4 + 24));
        assertThat(v4q8.encodedBytes(32, 0)).isEqualTo(6 + 64 * 2 + 32 * 64 / 4 + 32 * (4 + 32));
        // The int8 residual does not depend on the value bits.
        assertThat(v3q8.encodedBytes(33, 1) - v3q8.encodedBytes(32, 0)).isEqualTo(2 * (4 + 64));
        // A token residual's keys stay at the key bits while its values take theirs.
        KiviCodec token = new KiviCodec(2, D, 32, 64, KiviCodec.Residual.TOKEN, 4, KiviCodec.KeyMeta.Q8);
        assertThat(token.encodedBytes(33, 1) - token.encodedBytes(32, 0)).isEqualTo((4 + 32) + (4 + 16));
    }

    /** Re-encoding what a codec reproduced gives it back: the cache re-encodes open blocks each step. */
    @ParameterizedTest
    @ValueSource(strings = {"fp16", "int8", "kivi4", "kivi2", "kivi2:vbits=3", "kivi2:vbits=4,kmeta=q8",
        "kivi2:vbits=3,kmeta=q8,residual=keys8"})
    void decodedDataIsAFixedPoint(String name) {
        KvCodec codec = io.kvstream.kv.KvSpec.parse(name).newCodec(D);
        int n = 64;
        float[][] once = roundTrip(codec, data(n, 11), data(n, 12), 0, n, 0);
        float[][] twice = roundTrip(codec, once[0], once[1], 0, n, 0);
        assertThat(twice[0]).isEqualTo(once[0]);
        assertThat(twice[1]).isEqualTo(once[1]);
    }
}
