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
        // A live thread's allocations count too: the CPU backend's workers do most of a step's work.
        CountDownLatch release = new CountDownLatch(1);
        Allocating theirs = Allocating.start(8 << 20, release);
        long since = allocated.sinceStart();
        release.countDown();
        theirs.thread.join();
        assertThat(since).isGreaterThanOrEqualTo(mine.length + theirs.bytes.length);
    }

    @Test
    void aThreadThatEndsInBetweenTakesNothingAwayFromTheCount() throws InterruptedException {
        // Alive at the start with 32 MiB counted, ended before the count is read: in a JVM shared
        // with other work such threads come and go, and summing the live threads' totals at both
        // ends would subtract its 32 MiB from what this thread allocates in between.
        CountDownLatch release = new CountDownLatch(1);
        Allocating ending = Allocating.start(32 << 20, release);
        AllocatedBytes allocated = AllocatedBytes.start();
        assertThat(allocated).isNotNull();
        release.countDown();
        ending.thread.join();
        byte[] mine = new byte[16 << 20];
        assertThat(allocated.sinceStart()).isGreaterThanOrEqualTo(mine.length);
        assertThat(ending.bytes).hasSize(32 << 20);
    }

    /** A thread that has allocated an array and waits, alive, until released. */
    private static final class Allocating {
        final Thread thread;
        volatile byte[] bytes;

        private Allocating(int size, CountDownLatch allocated, CountDownLatch release) {
            this.thread = new Thread(() -> {
                bytes = new byte[size];
                allocated.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }

        static Allocating start(int size, CountDownLatch release) throws InterruptedException {
            CountDownLatch allocated = new CountDownLatch(1);
            Allocating a = new Allocating(size, allocated, release);
            a.thread.start();
            allocated.await();
            return a;
        }
    }
}
