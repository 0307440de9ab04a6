package io.kvstream.eval;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.RopeSpec;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

class Fp16BasisTest {

    private static final int LAYERS = 2;
    private static final int KV_HEADS = 2;
    private static final int D = 64;

    /** The basis of "x smaller than fp16" is exactly what an fp16 cache fed the same steps stores. */
    @ParameterizedTest
    @ValueSource(ints = {1, 64, 150, 200})
    void isWhatAnFp16CacheFedTheSameTokensStores(int tokens) {
        CompressedKvCache fp16 = feed("fp16", tokens);
        for (String spec : new String[] {"fp16", "full", "int8", "kivi2", "kivi4"}) {
            assertThat(Fp16Basis.storedBytes(feed(spec, tokens))).as(spec).isEqualTo(fp16.storedBytes());
        }
    }

    /** Steps of 1 to 40 tokens with random keys and values, as prefill and decode feed a cache. */
    private static CompressedKvCache feed(String spec, int tokens) {
        CompressedKvCache cache = new CompressedKvCache(
                KvSpec.parse(spec), LAYERS, 4, KV_HEADS, D, 4096, new RopeSpec(D, 10000f, false));
        Random r = new Random(tokens);
        int fed = 0;
        while (fed < tokens) {
            int step = Math.min(tokens - fed, 1 + r.nextInt(40));
            cache.reserve(step);
            for (int l = 0; l < LAYERS; l++) {
                for (int h = 0; h < KV_HEADS; h++) {
                    float[] k = cache.keys(l, h);
                    float[] v = cache.values(l, h);
                    for (int i = fed * D; i < (fed + step) * D; i++) {
                        k[i] = (float) r.nextGaussian();
                        v[i] = (float) r.nextGaussian();
                    }
                }
            }
            cache.commit(step);
            fed += step;
        }
        return cache;
    }
}
