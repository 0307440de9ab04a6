package io.kvstream.kv;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link KvCache#firstChangedSlot}: every slot below it is, after a commit, exactly what it was
 * before (older slots) or what the forward pass wrote (the step's slots), so that a device copy
 * re-sent from there is the host's again.
 */
class FirstChangedSlotTest {

    private static final int LAYERS = 2;
    private static final int HEADS = 4;
    private static final int KV_HEADS = 2;
    private static final int D = 8;

    @ParameterizedTest
    @ValueSource(strings = {"int8", "kivi2", "fp16", "full", "int8+window:sink=4,recent=40"})
    void slotsBelowItAreUntouchedByTheCommit(String spec) {
        KvCache cache = new CompressedKvCache(
                KvSpec.parse(spec), LAYERS, HEADS, KV_HEADS, D, 4096, new RopeSpec(D, 10000f, false));
        checkCommits(cache, new Random(1));
    }

    @Test
    void aDenseCacheKeepsEverySlot() {
        DenseKvCache cache = new DenseKvCache(LAYERS, KV_HEADS, D, 4096);
        checkCommits(cache, new Random(2));
        assertThat(cache.firstChangedSlot(1, 1)).isEqualTo(cache.length(1, 1));
    }

    @Test
    void aCompressedCacheNamesTheOpenBlock() {
        CompressedKvCache cache = new CompressedKvCache(
                KvSpec.parse("int8"), LAYERS, HEADS, KV_HEADS, D, 4096, new RopeSpec(D, 10000f, false), 64);
        Random random = new Random(3);
        step(cache, 70, random);
        assertThat(cache.firstChangedSlot(0, 1)).as("both blocks re-encoded").isZero();
        step(cache, 1, random);
        assertThat(cache.firstChangedSlot(0, 1)).as("only the open block from slot 64").isEqualTo(64);
        cache.reserve(0);
        cache.commit(0);
        assertThat(cache.firstChangedSlot(0, 0)).as("an empty commit changes nothing").isEqualTo(71);
        cache.clear();
        assertThat(cache.firstChangedSlot(0, 0)).isZero();
    }

    private static void checkCommits(KvCache cache, Random random) {
        int[] sizes = {5, 1, 1, 60, 1, 3, 17, 1, 1, 64, 2};
        for (int n : sizes) {
            int heads = LAYERS * KV_HEADS;
            float[][] keysBefore = new float[heads][];
            float[][] valuesBefore = new float[heads][];
            cache.reserve(n);
            for (int lh = 0; lh < heads; lh++) {
                fill(cache, lh, n, random);
                int end = (cache.length(lh / KV_HEADS, lh % KV_HEADS) + n) * D;
                keysBefore[lh] = Arrays.copyOf(cache.keys(lh / KV_HEADS, lh % KV_HEADS), end);
                valuesBefore[lh] = Arrays.copyOf(cache.values(lh / KV_HEADS, lh % KV_HEADS), end);
            }
            cache.commit(n);
            for (int lh = 0; lh < heads; lh++) {
                int layer = lh / KV_HEADS;
                int head = lh % KV_HEADS;
                int first = cache.firstChangedSlot(layer, head);
                assertThat(first).isBetween(0, cache.length(layer, head));
                int end = Math.min(first * D, keysBefore[lh].length);
                assertThat(Arrays.copyOf(cache.keys(layer, head), end))
                        .as("keys of head %s below slot %s after a step of %s", lh, first, n)
                        .containsExactly(Arrays.copyOf(keysBefore[lh], end));
                assertThat(Arrays.copyOf(cache.values(layer, head), end))
                        .containsExactly(Arrays.copyOf(valuesBefore[lh], end));
            }
        }
    }

    private static void step(KvCache cache, int n, Random random) {
        cache.reserve(n);
        for (int lh = 0; lh < LAYERS * KV_HEADS; lh++) {
            fill(cache, lh, n, random);
        }
        cache.commit(n);
    }

    /** Writes the step's keys and values of head lh as the forward pass would. */
    private static void fill(KvCache cache, int lh, int n, Random random) {
        int layer = lh / KV_HEADS;
        int head = lh % KV_HEADS;
        int from = cache.length(layer, head) * D;
        float[] k = cache.keys(layer, head);
        float[] v = cache.values(layer, head);
        for (int i = from; i < from + n * D; i++) {
            k[i] = (float) random.nextGaussian();
            v[i] = (float) random.nextGaussian();
        }
    }
}
