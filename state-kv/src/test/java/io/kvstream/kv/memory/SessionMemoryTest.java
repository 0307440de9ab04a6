package io.kvstream.kv.memory;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.ForwardSim;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.RopeSpec;
import io.kvstream.kv.block.EncodedBlock;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

/** The memory tier against a simulated forward pass: what goes in, what comes back, and where. */
class SessionMemoryTest {

    private static final int D = 64;
    private static final RopeSpec ROPE = new RopeSpec(D, 10000f, false);

    private static CompressedKvCache cache(String spec) {
        return new CompressedKvCache(KvSpec.parse(spec), 2, 2, 1, D, 4096, ROPE);
    }

    /**
     * The queries of both query heads of a one-token step that match token {@code t}'s key where
     * the memory scores it.
     */
    private static float[] queryFor(ForwardSim sim, CompressedKvCache cache, int lh, int t) {
        float[] k = ForwardSim.rotate(ROPE, sim.rawKey(lh, t), cache.memory().scoringPosition());
        float[] q = new float[2 * D];
        for (int c = 0; c < D; c++) {
            q[c] = 4f * k[c];
            q[D + c] = 4f * k[c];
        }
        return q;
    }

    /** The region slot that holds token {@code t} of head {@code lh}, by its value; -1 if none. */
    private static int slotOf(CompressedKvCache cache, ForwardSim sim, int lh, int t) {
        float[] want = sim.value(lh, t);
        float[] values = cache.retrievedValues(lh, 0);
        for (int r = 0; r < cache.retrievedLength(lh, 0); r++) {
            if (holds(values, r, want)) {
                return r;
            }
        }
        return -1;
    }

    /** Whether region slot {@code r} holds the value {@code want} (fp16 rounding aside). */
    private static boolean holds(float[] values, int r, float[] want) {
        float err = 0f;
        for (int c = 0; c < D; c++) {
            err = Math.max(err, Math.abs(values[r * D + c] - want[c]));
        }
        return err < 1e-2f;
    }

    @Test
    void evictedBlocksGoToMemoryAndTheMatchingOneComesBackRotatedAfterTheSinks() {
        CompressedKvCache cache = cache("fp16+window:sink=4,recent=128+memory:retrieve=2");
        ForwardSim sim = new ForwardSim(cache, 2, ROPE, 7).plant(300, 4f);
        sim.feed(1024, 64);
        SessionMemory memory = cache.memory();
        // Blocks 0..13 are (partly) evicted: 1024 fed, 4 sinks and 128 recent held.
        assertThat(memory.blockCount()).isEqualTo(14);
        assertThat(memory.gap()).isEqualTo(128);
        assertThat(cache.nextPosition()).isEqualTo(cache.length(0, 0) + 128);

        int target = 300;
        for (int l = 0; l < 2; l++) {
            cache.retrieve(l, queryFor(sim, cache, l, target), 0, 1, 2 * D);
        }
        for (int lh = 0; lh < 2; lh++) {
            int r = slotOf(cache, sim, lh, target);
            assertThat(r).as("head %s brought token %s back", lh, target).isGreaterThanOrEqualTo(0);
            // Retrieved keys sit after the sinks, in session order (two whole blocks fill the gap).
            float[] expected = ForwardSim.rotate(ROPE, sim.rawKey(lh, target), 4 + r);
            float[] keys = cache.retrievedKeys(lh, 0);
            for (int c = 0; c < D; c++) {
                assertThat(keys[r * D + c]).isCloseTo(expected[c], org.assertj.core.data.Offset.offset(0.05f));
            }
            assertThat(cache.retrievedLength(lh, 0)).isLessThanOrEqualTo(128);
        }
    }

    @Test
    void tokensStillInTheWindowAreNotBroughtBackTwice() {
        CompressedKvCache cache = cache("fp16+window:sink=4,recent=128+memory:retrieve=8");
        ForwardSim sim = new ForwardSim(cache, 2, ROPE, 3);
        sim.feed(1000, 50);
        int oldestHeld = cache.tokenAt(0, 0, 4);
        cache.retrieve(0, queryFor(sim, cache, 0, 10), 0, 1, 2 * D);
        assertThat(slotOf(cache, sim, 0, oldestHeld)).isEqualTo(-1);
        assertThat(slotOf(cache, sim, 0, 2)).as("a sink").isEqualTo(-1);
        assertThat(slotOf(cache, sim, 0, oldestHeld - 1)).isGreaterThanOrEqualTo(-1);
    }

    @Test
    void aRegionShorterThanTheGapEndsWhereTheWindowBegins() {
        CompressedKvCache cache = cache("fp16+window:sink=4,recent=128+memory:retrieve=8");
        ForwardSim sim = new ForwardSim(cache, 2, ROPE, 3);
        sim.feed(1000, 50);
        cache.retrieve(0, queryFor(sim, cache, 0, 10), 0, 1, 2 * D);
        int n = cache.retrievedLength(0, 0);
        int gap = cache.memory().gap();
        // Block 0 leaves its sinks to the window, so the chosen blocks hold fewer tokens than the gap.
        assertThat(n).isLessThan(gap);
        // The region is right-aligned: its last token sits just before the window's first position,
        // the distance the session wrote them at; the hole is next to the sinks.
        int last = tokenOf(sim, cache.retrievedValues(0, 0), n - 1, 1000);
        float[] expected = ForwardSim.rotate(ROPE, sim.rawKey(0, last), 4 + gap - 1);
        float[] keys = cache.retrievedKeys(0, 0);
        for (int c = 0; c < D; c++) {
            assertThat(keys[(n - 1) * D + c]).isCloseTo(expected[c], org.assertj.core.data.Offset.offset(0.05f));
        }
    }

    /** The token whose value region slot {@code r} holds, searched among the first {@code fed}. */
    private static int tokenOf(ForwardSim sim, float[] values, int r, int fed) {
        for (int t = 0; t < fed; t++) {
            if (holds(values, r, sim.value(0, t))) {
                return t;
            }
        }
        throw new AssertionError("region slot " + r + " holds no fed token");
    }

    @Test
    void theLimitDropsTheBlocksUsedLeastRecently() {
        CompressedKvCache unlimited = cache("fp16+window:sink=4,recent=128+memory:retrieve=1");
        new ForwardSim(unlimited, 2, ROPE, 5).feed(1024, 64);
        long perBlock = unlimited.memory().storedBytes() / unlimited.memory().blockCount();
        long limit = 5 * perBlock + 10;

        CompressedKvCache cache = cache("fp16+window:sink=4,recent=128+memory:retrieve=1,limit=" + limit);
        ForwardSim sim = new ForwardSim(cache, 2, ROPE, 5).plant(70, 4f);
        sim.feed(512, 64);
        SessionMemory memory = cache.memory();
        // Blocks 0..5 were evicted from; the sixth pushed the oldest, block 0, out.
        assertThat(indices(memory)).containsExactly(1, 2, 3, 4, 5);
        // Bring block 1 back now: it then outlives blocks 2..4, which were never used.
        cache.retrieve(0, queryFor(sim, cache, 0, 70), 0, 1, 2 * D);
        cache.retrieve(1, queryFor(sim, cache, 1, 70), 0, 1, 2 * D);
        sim.feed(192, 64);
        assertThat(indices(memory)).containsExactly(1, 5, 6, 7, 8);
        assertThat(memory.storedBytes()).isLessThanOrEqualTo(limit);
        assertThat(memory.droppedBlocks()).isEqualTo(4);
    }

    private static List<Integer> indices(SessionMemory memory) {
        List<Integer> held = new ArrayList<>();
        for (EncodedBlock b : memory.stored()) {
            held.add(b.index());
        }
        return held;
    }

    @Test
    void aRestoredSessionHoldsTheSameMemoryAndRetrievesTheSame() throws Exception {
        CompressedKvCache cache = cache("kivi2+window:sink=4,recent=128+memory:retrieve=3");
        ForwardSim sim = new ForwardSim(cache, 2, ROPE, 11).plant(222, 4f);
        sim.feed(900, 30);
        CompressedKvCache restored = cache("kivi2+window:sink=4,recent=128+memory:retrieve=3");
        restored.restore("s", cache.sessionMeta("model", cache.tokens()), cache.blocks(), cache.memory().stored());
        assertThat(restored.nextPosition()).isEqualTo(cache.nextPosition());
        assertThat(restored.memory().storedBytes()).isEqualTo(cache.memory().storedBytes());
        float[] q = queryFor(sim, cache, 1, 222);
        cache.retrieve(1, q, 0, 1, 2 * D);
        restored.retrieve(1, q, 0, 1, 2 * D);
        assertThat(restored.retrievedLength(1, 0)).isEqualTo(cache.retrievedLength(1, 0)).isPositive();
        int n = cache.retrievedLength(1, 0) * D;
        assertThat(java.util.Arrays.copyOf(restored.retrievedKeys(1, 0), n))
                .containsExactly(java.util.Arrays.copyOf(cache.retrievedKeys(1, 0), n));
        assertThat(java.util.Arrays.copyOf(restored.keys(1, 0), cache.length(1, 0) * D))
                .containsExactly(java.util.Arrays.copyOf(cache.keys(1, 0), cache.length(1, 0) * D));
        // More tokens after the restore add blocks to memory without adding old ones again.
        ForwardSim more = new ForwardSim(restored, 2, ROPE, 11).plant(222, 4f);
        more.feed(128, 64);
        assertThat(restored.memory().blockCount()).isEqualTo(cache.memory().blockCount() + 2);
    }
}
