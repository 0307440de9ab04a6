package io.kvstream.runtime;

import io.kvstream.kv.DenseKvCache;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class SequenceStepTest {

    private static DenseKvCache cache() {
        return new DenseKvCache(1, 1, 4, 16);
    }

    /**
     * A prompt step asks for the last token's logits unless told otherwise, whether it was made
     * new or reused: logits for every prompt token cost an output-matrix multiply per token and a
     * vocabulary-sized buffer per token.
     */
    @Test
    void aStepAsksForTheLastTokensLogitsByDefault() {
        SequenceStep made = new SequenceStep(cache()).add(new int[] {5, 6, 7}, 0, 3);
        assertThat(made.firstLogit()).isEqualTo(2);
        assertThat(made.logitRows()).isEqualTo(1);

        made.logitsFrom(0);
        assertThat(made.logitRows()).isEqualTo(3);

        SequenceStep reused = made.reset(cache()).add(new int[] {8, 9}, 0, 2);
        assertThat(reused.logitRows()).isEqualTo(1);
    }
}
