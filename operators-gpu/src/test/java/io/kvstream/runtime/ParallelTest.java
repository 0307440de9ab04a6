package io.kvstream.runtime;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@link Parallel}'s loops: every chunk once, and {@link Parallel#forShares}' order. */
class ParallelTest {

    @Test
    void everyElementIsCoveredOnceInChunksOfTheGrain() {
        for (int threads : new int[] {1, 2, 3}) {
            try (Parallel parallel = new Parallel(threads)) {
                for (int n : new int[] {1, 5, 31, 32, 33, 100, 1000}) {
                    for (int grain : new int[] {1, 4, 32}) {
                        for (boolean shares : new boolean[] {false, true}) {
                            AtomicIntegerArray seen = new AtomicIntegerArray(n);
                            Parallel.RangeBody body = (worker, from, to) -> {
                                assertThat(from % grain).isZero();
                                assertThat(to).isEqualTo(Math.min(n, from + grain));
                                for (int i = from; i < to; i++) {
                                    seen.incrementAndGet(i);
                                }
                            };
                            if (shares) {
                                parallel.forShares(n, grain, body);
                            } else {
                                parallel.forRange(n, grain, body);
                            }
                            for (int i = 0; i < n; i++) {
                                assertThat(seen.get(i)).as("element %d of %d, grain %d, %d threads, shares %s",
                                        i, n, grain, threads, shares).isEqualTo(1);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Each thread takes its own run of chunks from its start, in order, and the others' from
     * their ends. The helper holds its first chunk until the caller has taken one of the
     * helper's, so the caller always finishes its own run and then takes from the helper's end.
     */
    @Test
    void aThreadTakesItsOwnRunInOrderAndTheOthersFromTheirEnds() {
        int chunks = 64;
        List<List<Integer>> taken = List.of(
                Collections.synchronizedList(new ArrayList<>()), Collections.synchronizedList(new ArrayList<>()));
        CountDownLatch tookFromHelper = new CountDownLatch(1);
        try (Parallel parallel = new Parallel(2)) {
            parallel.forShares(chunks, 1, (worker, from, to) -> {
                taken.get(worker).add(from);
                if (worker == 0 && from >= chunks / 2) {
                    tookFromHelper.countDown();
                } else if (worker == 1) {
                    await(tookFromHelper);
                }
            });
        }
        List<Integer> caller = taken.get(0);
        List<Integer> helper = taken.get(1);
        assertThat(caller.subList(0, chunks / 2)).as("the caller's own run")
                .isEqualTo(range(0, chunks / 2));
        List<Integer> stolen = caller.subList(chunks / 2, caller.size());
        assertThat(stolen).as("taken from the helper's run").isNotEmpty().isSortedAccordingTo(Collections.reverseOrder());
        assertThat(stolen.get(0)).isEqualTo(chunks - 1);
        assertThat(helper).as("the helper's own run, from its start").isEqualTo(range(chunks / 2, chunks / 2 + helper.size()));
        assertThat(caller.size() + helper.size()).isEqualTo(chunks);
    }

    @Test
    void aChunksFailureReachesTheCaller() {
        try (Parallel parallel = new Parallel(2)) {
            assertThatThrownBy(() -> parallel.forShares(100, 1, (worker, from, to) -> {
                if (from == 77) {
                    throw new IllegalStateException("chunk 77");
                }
            })).isInstanceOf(IllegalStateException.class).hasMessage("chunk 77");
            // The loop after a failure runs as usual.
            AtomicIntegerArray seen = new AtomicIntegerArray(10);
            parallel.forShares(10, 1, (worker, from, to) -> seen.incrementAndGet(from));
            for (int i = 0; i < 10; i++) {
                assertThat(seen.get(i)).isEqualTo(1);
            }
        }
    }

    private static List<Integer> range(int from, int to) {
        List<Integer> r = new ArrayList<>();
        for (int i = from; i < to; i++) {
            r.add(i);
        }
        return r;
    }

    private static void await(CountDownLatch latch) {
        try {
            // Bounded: a broken loop that never lets the caller take from the helper's run fails
            // the assertions, not the build's time limit.
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
