package io.kvstream.cli;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link AllocatedBytes} on HotSpot, which counts every thread's allocations. */
class AllocatedBytesTest {

    @Test
    void countsWhatThisAndOtherLiveThreadsAllocate() throws InterruptedException {
        AllocatedBytes allocated = AllocatedBytes.start();
        assertThat(allocated).isNotNull();
        byte[] mine = new byte[16 << 20];
        byte[][] theirs = new byte[1][];
        CountDownLatch done = new CountDownLatch(1);
        CountDownLatch counted = new CountDownLatch(1);
        // A live thread's allocations count too: the CPU backend's workers do most of a step's work.
        Thread worker = new Thread(() -> {
            theirs[0] = new byte[8 << 20];
            done.countDown();
            awaitQuietly(counted);
        });
        worker.start();
        done.await();
        long since = allocated.sinceStart();
        counted.countDown();
        worker.join();
        assertThat(since).isGreaterThanOrEqualTo(mine.length + theirs[0].length);
    }

    @Test
    void aThreadThatEndsInBetweenTakesNothingAwayFromTheCount() throws InterruptedException {
        // Alive at the start with 32 MiB counted, ended before the count is read: in a JVM shared
        // with other work such threads come and go, and summing the live threads' totals at both
        // ends would subtract its 32 MiB from what this thread allocates in between.
        byte[][] theirs = new byte[1][];
        CountDownLatch done = new CountDownLatch(1);
        CountDownLatch started = new CountDownLatch(1);
        Thread ending = new Thread(() -> {
            theirs[0] = new byte[32 << 20];
            done.countDown();
            awaitQuietly(started);
        });
        ending.start();
        done.await();
        AllocatedBytes allocated = AllocatedBytes.start();
        assertThat(allocated).isNotNull();
        started.countDown();
        ending.join();
        byte[] mine = new byte[16 << 20];
        assertThat(allocated.sinceStart()).isGreaterThanOrEqualTo(mine.length);
        assertThat(theirs[0]).hasSize(32 << 20);
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
