package io.kvstream.kv.evict;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.ForwardSim;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.RopeSpec;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

class EvictionTest {

    private static final int HEADS = 4;
    private static final int KV = 2;
    private static final int D = 64;

    private static List<Integer> held(CompressedKvCache c, int l, int h) {
        List<Integer> out = new ArrayList<>();
        for (int s = 0; s < c.length(l, h); s++) {
            out.add(c.tokenAt(l, h, s));
        }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"full, false, 1e-4", "full, true, 1e-4", "fp16, false, 2e-2"})
    void windowKeepsSinksAndRecentAndReRotatesKeys(String codec, boolean interleaved, float tolerance) {
        RopeSpec rope = new RopeSpec(D, 10000f, interleaved);
        CompressedKvCache c = new CompressedKvCache(
                KvSpec.parse(codec + "+window:sink=4,recent=20"), 2, HEADS, KV, D, 64, rope, 16);
        ForwardSim sim = new ForwardSim(c, HEADS, rope, 10);
        sim.step(30, null);
        for (int i = 0; i < 200; i++) {
            sim.step(1 + (i % 3), null);
        }
        int tokens = c.tokens();
        List<Integer> expected = new ArrayList<>(List.of(0, 1, 2, 3));
        for (int t = tokens - 20; t < tokens; t++) {
            expected.add(t);
        }
        for (int l = 0; l < 2; l++) {
            for (int h = 0; h < KV; h++) {
                assertThat(held(c, l, h)).isEqualTo(expected);
                int lh = l * KV + h;
                for (int s = 0; s < 24; s++) {
                    // The key at slot s must be the original, unrotated key rotated straight to s.
                    float[] want = sim.rotatedKey(lh, c.tokenAt(l, h, s), s);
                    for (int ch = 0; ch < D; ch++) {
                        assertThat(c.keys(l, h)[s * D + ch]).as("slot %d channel %d", s, ch)
                                .isCloseTo(want[ch], within(tolerance * (1 + Math.abs(want[ch]))));
                    }
                }
            }
        }
        assertThat(c.nextPosition()).isEqualTo(24);
        // Tokens far past the 64-token limit still take positions inside the window.
        assertThat(tokens).isGreaterThan(300);
        // Blocks wholly evicted are gone.
        assertThat(c.block(2)).isNull();
        assertThat(c.block(0)).isNotNull();
    }

    @Test
    void h2oKeepsHeavyHittersPerHeadPlusRecent() {
        RopeSpec rope = new RopeSpec(D, 10000f, false);
        CompressedKvCache c = new CompressedKvCache(KvSpec.parse("fp16+h2o:budget=16,recent=6"), 1, HEADS, KV, D, 4096, rope);
        ForwardSim sim = new ForwardSim(c, HEADS, rope, 11);
        // Head 0's queries attend to tokens 5, 17, 33 (by slot of the token); head 1's to 2, 40.
        // Weights are split over the group's query heads, to check that they add up; every
        // query also gives a little to itself, so other tokens tie and recency breaks the tie.
        int[][] favourites = {{5, 17, 33}, {2, 40}};
        ForwardSim.Attention attention = (l, q, t, slots, w) -> {
            int h = q / (HEADS / KV);
            w[slots - 1] = 0.01f;
            for (int fav : favourites[h]) {
                for (int s = 0; s < slots - 1; s++) {
                    if (c.tokenAt(l, h, s) == fav) {
                        w[s] += q % 2 == 0 ? 0.3f : 0.2f;
                    }
                }
            }
        };
        for (int i = 0; i < 80; i++) {
            sim.step(1, attention);
        }
        List<Integer> head0 = held(c, 0, 0);
        List<Integer> head1 = held(c, 0, 1);
        assertThat(head0).hasSize(16).contains(5, 17, 33).containsAll(List.of(74, 75, 76, 77, 78, 79));
        assertThat(head1).hasSize(16).contains(2, 40).containsAll(List.of(74, 75, 76, 77, 78, 79));
        assertThat(head0).doesNotContain(2, 40);
        assertThat(head1).doesNotContain(5, 17, 33);
        // Original positions are kept.
        assertThat(c.nextPosition()).isEqualTo(80);
        assertThat(c.remaining()).isEqualTo(4096 - 80);
    }

    @Test
    void snapKvKeepsWhatTheObservationWindowAttendsPooled() {
        RopeSpec rope = new RopeSpec(D, 10000f, false);
        CompressedKvCache c = new CompressedKvCache(
                KvSpec.parse("int8+snapkv:budget=6,window=8,pool=3"), 1, HEADS, KV, D, 4096, rope);
        ForwardSim sim = new ForwardSim(c, HEADS, rope, 12);
        // A 100-token prefill: the last 8 queries attend to 20 (head 0) or 60 (head 1);
        // earlier queries attend elsewhere and must not count.
        sim.step(100, (l, q, t, slots, w) -> {
            int h = q / (HEADS / KV);
            if (t < 92) {
                w[Math.min(slots - 1, 70)] = 1f;
            } else {
                w[h == 0 ? 20 : 60] = 0.9f;
                w[slots - 1] = 0.1f;
            }
        });
        List<Integer> head0 = held(c, 0, 0);
        List<Integer> head1 = held(c, 0, 1);
        // Max-pooling over 3 slots makes the neighbours of the peak tie with it; with a budget
        // of 6 the peak's neighbours come first, then ties by recency.
        assertThat(head0).hasSize(14).contains(19, 20, 21).doesNotContain(70);
        assertThat(head1).hasSize(14).contains(59, 60, 61).doesNotContain(70);
        for (int t = 92; t < 100; t++) {
            assertThat(head0).contains(t);
        }
        // Decode steps just append.
        sim.step(1, null);
        assertThat(held(c, 0, 0)).hasSize(15).endsWith(100);
        assertThat(c.nextPosition()).isEqualTo(101);
    }

    @Test
    void h2oWithAFractionalBudgetGrowsWithTheSession() {
        RopeSpec rope = new RopeSpec(D, 10000f, false);
        CompressedKvCache c = new CompressedKvCache(KvSpec.parse("kivi4+h2o:budget=0.5"), 1, HEADS, KV, D, 4096, rope);
        ForwardSim sim = new ForwardSim(c, HEADS, rope, 13);
        sim.step(64, (l, q, t, slots, w) -> w[0] = 1f);
        assertThat(c.length(0, 0)).isEqualTo(32);
        for (int i = 0; i < 36; i++) {
            sim.step(1, (l, q, t, slots, w) -> w[0] = 1f);
        }
        assertThat(c.length(0, 0)).isEqualTo(50);
        assertThat(c.tokenAt(0, 0, 0)).isZero();
    }
}
