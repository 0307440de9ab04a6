package io.kvstream.kv.memory;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.ForwardSim;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.RopeSpec;
import io.kvstream.kv.block.BlockFormat;

import org.junit.jupiter.api.Test;

/**
 * A turn that names what only memory holds: the pair of token ids it shares with an evicted
 * block brings that block's tokens around the pair back, and with {@code focus} the turn attends
 * over them instead of the window.
 */
class TurnMatchTest {

    private static final int D = 64;
    private static final RopeSpec ROPE = new RopeSpec(D, 10000f, false);
    private static final int FED = 1000;
    /** The session said ids A, B at tokens 300 and 301; the question says C, A, B, D. */
    private static final int A = 1;
    private static final int B = 2;
    private static final int[] QUESTION = {3, A, B, 4};

    private static int[] ids(int... pairAt) {
        int[] ids = new int[FED + QUESTION.length];
        for (int t = 0; t < FED; t++) {
            ids[t] = 10_000 + t;
        }
        for (int at : pairAt) {
            ids[at] = A;
            ids[at + 1] = B;
        }
        System.arraycopy(QUESTION, 0, ids, FED, QUESTION.length);
        return ids;
    }

    private static CompressedKvCache cache(String memory) {
        return new CompressedKvCache(KvSpec.parse("fp16+window:sink=4,recent=128+" + memory), 2, 2, 1, D, 4096, ROPE);
    }

    /** Feeds the session, then asks. */
    private static CompressedKvCache ask(String memory, int[] ids) {
        CompressedKvCache cache = cache(memory);
        new ForwardSim(cache, 2, ROPE, 17).withIds(ids).feed(FED, 50);
        return ask(cache, ids);
    }

    /** Writes the question's step into a cache that holds the session and retrieves for both layers. */
    private static CompressedKvCache ask(CompressedKvCache cache, int[] ids) {
        ForwardSim sim = new ForwardSim(cache, 2, ROPE, 17).withIds(ids);
        cache.startTurn();
        sim.write(QUESTION.length);
        float[] queries = new float[QUESTION.length * 2 * D];
        for (int l = 0; l < 2; l++) {
            cache.retrieve(l, queries, 0, QUESTION.length, 2 * D);
        }
        return cache;
    }

    /** The session token whose value region slot {@code r} of head {@code lh} holds; -1 if none. */
    private static int tokenAt(CompressedKvCache cache, int lh, int r) {
        ForwardSim values = new ForwardSim(cache, 2, ROPE, 17);
        float[] region = cache.retrievedValues(lh, 0);
        for (int t = 0; t < FED; t++) {
            float[] want = values.value(lh, t);
            float err = 0f;
            for (int c = 0; c < D; c++) {
                err = Math.max(err, Math.abs(region[r * D + c] - want[c]));
            }
            if (err < 1e-2f) {
                return t;
            }
        }
        return -1;
    }

    @Test
    void aPairOnlyMemoryHoldsBringsBackTheTokensAroundItAndTheTurnAttendsOverThem() {
        CompressedKvCache cache = ask("memory:retrieve=4,match=focus,span=8,after=2", ids(300));
        for (int lh = 0; lh < 2; lh++) {
            // The pair ends at token 301: the region is tokens 293..303, in order, in every layer.
            assertThat(cache.retrievedLength(lh, 0)).isEqualTo(11);
            for (int r = 0; r < 11; r++) {
                assertThat(tokenAt(cache, lh, r)).as("layer %s, region slot %s", lh, r).isEqualTo(293 + r);
            }
            // Focused: the held slots after the sinks, all written before the turn, are skipped.
            assertThat(cache.maskedFrom(lh, 0)).isEqualTo(4);
            assertThat(cache.maskedTo(lh, 0)).isEqualTo(cache.length(lh, 0));
        }
    }

    @Test
    void withTokensTheRegionIsTheSameButTheWindowStaysInAttention() {
        CompressedKvCache cache = ask("memory:retrieve=4,match=tokens,span=8,after=2", ids(300));
        assertThat(cache.retrievedLength(0, 0)).isEqualTo(11);
        assertThat(tokenAt(cache, 0, 0)).isEqualTo(293);
        assertThat(cache.maskedTo(0, 0)).isLessThanOrEqualTo(cache.maskedFrom(0, 0));
    }

    @Test
    void aPairTheWindowStillHoldsNamesNothing() {
        // The pair was said again at 990: it is in attention already, so memory is not named.
        CompressedKvCache cache = ask("memory:retrieve=4,match=focus,span=8,after=2", ids(300, 990));
        assertThat(cache.retrievedLength(0, 0)).isGreaterThan(11);
        assertThat(cache.maskedTo(0, 0)).isLessThanOrEqualTo(cache.maskedFrom(0, 0));
    }

    @Test
    void withoutMatchingAttentionLogitsChoose() {
        CompressedKvCache cache = ask("memory:retrieve=4", ids(300));
        assertThat(cache.retrievedLength(0, 0)).isGreaterThan(11);
        assertThat(cache.maskedTo(0, 0)).isLessThanOrEqualTo(cache.maskedFrom(0, 0));
    }

    @Test
    void idsAreStoredWithTheBlocksAndARestoredSessionNamesTheSame() throws Exception {
        String memory = "memory:retrieve=4,match=focus,span=8,after=2";
        CompressedKvCache session = cache(memory);
        new ForwardSim(session, 2, ROPE, 17).withIds(ids(300)).feed(FED, 50);
        CompressedKvCache restored = cache(memory);
        restored.restore("s", session.sessionMeta("model", FED), session.blocks(), session.memory().stored());
        ask(restored, ids(300));
        assertThat(restored.retrievedLength(0, 0)).isEqualTo(11);
        assertThat(tokenAt(restored, 0, 0)).isEqualTo(293);
        assertThat(restored.maskedTo(0, 0)).isEqualTo(restored.length(0, 0));
        // Blocks carry ids (format version 2) only where the memory matches tokens.
        assertThat(session.block(0).bytes()[4]).isEqualTo((byte) BlockFormat.VERSION_TOKEN_IDS);
        CompressedKvCache plain = cache("memory:retrieve=4");
        new ForwardSim(plain, 2, ROPE, 17).withIds(ids(300)).feed(FED, 50);
        assertThat(plain.block(0).bytes()[4]).isEqualTo((byte) BlockFormat.VERSION);
    }

    @Test
    void whereTheWordsWereFirstSaidComesFirst() {
        // Said at 300 and again at 500 (a fact, then a question repeating it), both in memory: a
        // budget of one block takes the first mention.
        CompressedKvCache cache = ask("memory:retrieve=1,match=focus,span=8,after=2", ids(300, 500));
        assertThat(cache.retrievedLength(0, 0)).isEqualTo(11);
        assertThat(tokenAt(cache, 0, 0)).isEqualTo(293);
    }

    @Test
    void theNextTurnStartsUnfocused() {
        CompressedKvCache cache = ask("memory:retrieve=4,match=focus,span=8,after=2", ids(300));
        cache.commit(QUESTION.length);
        cache.startTurn();
        assertThat(cache.maskedTo(0, 0)).isLessThanOrEqualTo(cache.maskedFrom(0, 0));
    }
}
