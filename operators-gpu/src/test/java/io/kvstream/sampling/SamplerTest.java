package io.kvstream.sampling;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SamplerTest {

    private static final float[] LOGITS = {1.0f, 3.0f, 2.0f, -1.0f, 2.5f, 0.0f};

    @Test
    void greedyTakesTheFirstLargest() {
        float[] tied = {0f, 5f, 5f, 1f};
        assertThat(new Sampler().sample(tied, 0, 4, SamplingParams.GREEDY, new int[0], 0, 0)).isEqualTo(1);
        assertThat(new Sampler().sample(LOGITS, 0, LOGITS.length, SamplingParams.GREEDY, new int[0], 0, 0)).isEqualTo(1);
    }

    @Test
    void sameSeedAndIndexReplayTheSameDraw() {
        SamplingParams p = new SamplingParams(1.5f, 0, 1f, 1f, 1234);
        Sampler a = new Sampler();
        Sampler b = new Sampler();
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 200; i++) {
            int x = a.sample(LOGITS, 0, LOGITS.length, p, new int[0], 0, i);
            // A fresh sampler, other draws in between: the draw depends only on (seed, index).
            b.sample(LOGITS, 0, LOGITS.length, p, new int[0], 0, i + 1000);
            assertThat(b.sample(LOGITS, 0, LOGITS.length, p, new int[0], 0, i)).isEqualTo(x);
            seen.add(x);
        }
        assertThat(seen).as("a hot temperature visits several tokens").hasSizeGreaterThan(3);
    }

    @Test
    void frequenciesFollowTheSoftmax() {
        SamplingParams p = new SamplingParams(1f, 0, 1f, 1f, 99);
        Sampler s = new Sampler();
        int[] counts = new int[LOGITS.length];
        int n = 40_000;
        for (int i = 0; i < n; i++) {
            counts[s.sample(LOGITS, 0, LOGITS.length, p, new int[0], 0, i)]++;
        }
        double z = 0;
        for (float l : LOGITS) {
            z += Math.exp(l);
        }
        for (int t = 0; t < LOGITS.length; t++) {
            double expected = Math.exp(LOGITS[t]) / z;
            assertThat(counts[t] / (double) n).as("token %d", t).isCloseTo(expected, org.assertj.core.data.Offset.offset(0.01));
        }
    }

    @Test
    void topKAndTopPKeepOnlyTheHead() {
        Sampler s = new Sampler();
        SamplingParams topK = new SamplingParams(5f, 2, 1f, 1f, 3);
        SamplingParams topP = new SamplingParams(1f, 0, 0.5f, 1f, 3);
        for (int i = 0; i < 2000; i++) {
            assertThat(s.sample(LOGITS, 0, LOGITS.length, topK, new int[0], 0, i)).isIn(1, 4);
            // p(1)=0.44, p(4)=0.27: the nucleus of 0.5 is {1, 4}.
            assertThat(s.sample(LOGITS, 0, LOGITS.length, topP, new int[0], 0, i)).isIn(1, 4);
        }
    }

    @Test
    void repetitionPenaltyAppliesOncePerDistinctToken() {
        Sampler s = new Sampler();
        SamplingParams p = new SamplingParams(0f, 0, 1f, 2f, 0);
        // Token 1 (3.0) is penalized to 1.5, below token 4 (2.5); seen three times, still 1.5.
        int[] history = {1, 1, 1};
        assertThat(s.sample(LOGITS, 0, LOGITS.length, p, history, 3, 0)).isEqualTo(4);
        // Negative logits are multiplied: token 3 at -1.0 goes to -2.0 and cannot win anyway.
        float[] negative = {-1f, -0.6f};
        assertThat(s.sample(negative, 0, 2, p, new int[] {1}, 1, 0)).isEqualTo(0);
        assertThat(LOGITS[1]).as("logits are left unchanged").isEqualTo(3.0f);
    }

    @Test
    void badParametersAreRejected() {
        assertThatThrownBy(() -> new SamplingParams(-1f, 0, 1f, 1f, 0)).hasMessageContaining("temperature");
        assertThatThrownBy(() -> new SamplingParams(1f, -1, 1f, 1f, 0)).hasMessageContaining("top-k");
        assertThatThrownBy(() -> new SamplingParams(1f, 0, 0f, 1f, 0)).hasMessageContaining("top-p");
        assertThatThrownBy(() -> new SamplingParams(1f, 0, 1f, 0f, 0)).hasMessageContaining("repetition");
    }

    @Test
    void drawsAreSplittableRandomsFirstDouble() {
        // Requests stored before the draw lost its object must replay to the same tokens.
        SplittableRandom seeds = new SplittableRandom(99);
        for (int i = 0; i < 10_000; i++) {
            long seed = i < 4 ? new long[] {0L, -1L, Long.MIN_VALUE, Long.MAX_VALUE}[i] : seeds.nextLong();
            assertThat(Sampler.uniform(seed)).isEqualTo(new SplittableRandom(seed).nextDouble());
        }
    }
}
