package io.kvstream.runtime;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class FmaPeakTest {

    /** The timed loop does every FMA it counts: each chain, every iteration, every lane. */
    @Test
    void chunkRunsTheRecurrenceOnEveryChain() {
        int seed = 5;
        float a = 1e-3f * (1 + (seed & 7));
        double expected = 0;
        for (int chain = 0; chain < FmaPeak.CHAINS; chain++) {
            float acc = 100f * chain;
            for (int i = 0; i < FmaPeak.ITERATIONS; i++) {
                acc = Math.fma(acc, FmaPeak.B, a);
            }
            expected += (double) acc * FmaPeak.lanes();
        }
        // An FMA rounds once in a vector lane as in Math.fma, so each lane is exact and only the
        // order of the final sum differs (well under 1e-5). A chain left out, counted twice or
        // run fewer times moves the sum by over 1e-4: chains keep 13% of their distinct starts.
        assertThat((double) FmaPeak.chunk(seed)).isCloseTo(expected, within(1e-5 * expected));
    }

    @Test
    void measuresAPositiveRate() {
        // Any CPU with vector units does well over a GFLOP/s on one thread, busy or not.
        assertThat(FmaPeak.measure(1)).isGreaterThan(1e9);
    }
}
