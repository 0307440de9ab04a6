package io.kvstream.runtime.cuda;

import io.kvstream.kv.DenseKvCache;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.RopeStyle;
import io.kvstream.runtime.SequenceStep;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StepPlanTest {

    // 2 layers, 4 query heads over 2 kv heads of 4: four (layer, kv head) pairs per cache.
    private static final ModelConfig CONFIG =
            new ModelConfig("llama", 8, 16, 2, 4, 2, 4, 32, 128, 1e-5f, 10000f, RopeStyle.INTERLEAVED);

    private static DenseKvCache cache(int held) {
        DenseKvCache c = new DenseKvCache(CONFIG.layers(), CONFIG.kvHeads(), CONFIG.headDim(), 128);
        c.reserve(held);
        c.commit(held);
        return c;
    }

    /** Reserves the step's tokens and gives the sequence pages for its cache and the step. */
    private static BlockTable table(SequenceStep step, PagePool pool) {
        step.cache().reserve(step.count());
        BlockTable t = new BlockTable(CONFIG.layers() * CONFIG.kvHeads(), pool.pageTokens());
        assertThat(t.ensureCapacity(step.cache().tokens() + step.count(), pool)).isTrue();
        return t;
    }

    @Test
    void laysOutADecodeTokenBesideAChunkedPrefillWithAPatch() {
        PagePool pool = new PagePool(100, 4);
        SequenceStep decode = new SequenceStep(cache(5)).add(7);
        float[] patch = {1, 2, 3, 4, 5, 6, 7, 8};
        SequenceStep prefill = new SequenceStep(cache(0));
        prefill.add(new int[] {1, 2, 3}, 0, 3).addEmbedded(9, patch, 0, 8);
        for (int i = 4; i < 20; i++) {
            prefill.add(i);
        }
        prefill.logitsFrom(18);
        BlockTable[] tables = {table(decode, pool), table(prefill, pool)};
        StepPlan plan = new StepPlan(CONFIG);
        plan.build(List.of(decode, prefill), tables);

        assertThat(plan.tokens()).isEqualTo(21);
        assertThat(plan.sequences()).isEqualTo(2);
        assertThat(plan.decodeOnly()).isFalse();
        assertThat(Arrays.copyOf(plan.tokSeq(), 21)).containsExactly(0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        assertThat(plan.tokIndex()[0]).isZero();
        assertThat(plan.tokIndex()[20]).isEqualTo(19);
        assertThat(plan.position()[0]).as("after its 5 cached tokens").isEqualTo(5);
        assertThat(plan.position()[1]).isZero();
        assertThat(plan.position()[20]).isEqualTo(19);
        assertThat(plan.maxPosition()).isEqualTo(20);
        assertThat(plan.maxSlots()).isEqualTo(20);

        // Token ids, and the patch as row 0 of the carried embeddings.
        assertThat(Arrays.copyOf(plan.embedSource(), 6)).containsExactly(7, 1, 2, 3, -1, 4);
        assertThat(plan.embeddedRows()).isEqualTo(1);
        assertThat(Arrays.copyOf(plan.embedded(), 8)).containsExactly(patch);

        // Logits: the decode token, then the prefill's last two (from index 18).
        assertThat(plan.logitRows()).isEqualTo(3);
        assertThat(Arrays.copyOf(plan.logitTokens(), 3)).containsExactly(0, 19, 20);

        // Tiles of at most 16 queries of one sequence.
        assertThat(plan.tiles()).isEqualTo(3);
        assertThat(Arrays.copyOf(plan.tileTok(), 3)).containsExactly(0, 1, 17);
        assertThat(Arrays.copyOf(plan.tileCount(), 3)).containsExactly(1, 16, 4);

        // Cache lengths per (sequence, layer * kvHeads + kvHead).
        assertThat(Arrays.copyOf(plan.seqKvLen(), 8)).containsExactly(5, 5, 5, 5, 0, 0, 0, 0);

        // Block tables one after the other, as the kernels find them.
        assertThat(plan.seqTable()[0]).isZero();
        assertThat(plan.seqTable()[1]).isEqualTo(tables[0].size());
        assertThat(plan.seqPages()[0]).isEqualTo(2);
        assertThat(plan.seqPages()[1]).isEqualTo(5);
        assertThat(plan.blockTableSize()).isEqualTo(4 * 2 + 4 * 5);
        int lh = 3;
        int slot = 13;
        int page = plan.blockTable()[plan.seqTable()[1] + lh * plan.seqPages()[1] + slot / 4];
        assertThat(page * 4 + slot % 4).isEqualTo(tables[1].address(lh, slot));

        // New keys go right after what each head holds: [layer][token][kvHead].
        int tokens = plan.tokens();
        assertThat(plan.appendAddr()[(1 * tokens + 0) * 2 + 1]).isEqualTo(tables[0].address(3, 5));
        assertThat(plan.appendAddr()[(0 * tokens + 20) * 2 + 0]).isEqualTo(tables[1].address(0, 19));
    }

    @Test
    void oneTokenPerSequenceIsADecodeStep() {
        PagePool pool = new PagePool(100, 4);
        SequenceStep a = new SequenceStep(cache(9)).add(3);
        SequenceStep b = new SequenceStep(cache(2)).add(4);
        StepPlan plan = new StepPlan(CONFIG);
        plan.build(List.of(a, b), new BlockTable[] {table(a, pool), table(b, pool)});
        assertThat(plan.decodeOnly()).isTrue();
        assertThat(plan.maxSlots()).isEqualTo(10);
        assertThat(Arrays.copyOf(plan.logitTokens(), 2)).containsExactly(0, 1);
        assertThat(Arrays.copyOf(plan.position(), 2)).containsExactly(9, 2);
    }

    @Test
    void refusesTokensOutsideTheVocabularyAndEmptySteps() {
        PagePool pool = new PagePool(100, 4);
        StepPlan plan = new StepPlan(CONFIG);
        SequenceStep bad = new SequenceStep(cache(0)).add(32);
        assertThatThrownBy(() -> plan.build(List.of(bad), new BlockTable[] {table(bad, pool)}))
                .hasMessageContaining("token id 32 is outside the vocabulary of 32");
        SequenceStep empty = new SequenceStep(cache(0));
        assertThatThrownBy(() -> plan.build(List.of(empty), new BlockTable[] {table(empty, pool)}))
                .hasMessageContaining("feeds no token");
    }

    @Test
    void refusesATableTooSmallForTheStep() {
        PagePool pool = new PagePool(100, 4);
        SequenceStep step = new SequenceStep(cache(3)).add(new int[] {1, 2}, 0, 2);
        BlockTable small = new BlockTable(4, 4);
        small.ensureCapacity(4, pool);
        assertThatThrownBy(() -> new StepPlan(CONFIG).build(List.of(step), new BlockTable[] {small}))
                .hasMessageContaining("5 slots do not fit the 4");
    }
}
