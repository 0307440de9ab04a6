package io.kvstream.cli;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link AllocatedBytes} on HotSpot, which counts every thread's allocations. */
class AllocatedBytesTest {

    @Test
    void countsWhatThisAndOtherLiveThreadsAllocate() throws InterruptedException {
        long before = AllocatedBytes.allThreads();
        assertThat(before).isPositive();
        byte[] mine = new byte[16 << 20];
        byte[][] theirs = new byte[1][];
        CountDownLatch allocated = new CountDownLatch(1);
        CountDownLatch counted = new CountDownLatch(1);
        // A live thread's allocations count too: the CPU backend's workers do most of a step's work.
        Thread worker = new Thread(() -> {
            theirs[0] = new byte[8 << 20];
            allocated.countDown();
            try {
                counted.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        worker.start();
        allocated.await();
        long after = AllocatedBytes.allThreads();
        counted.countDown();
        worker.join();
        assertThat(after - before).isGreaterThanOrEqualTo(mine.length + theirs[0].length);
    }
}
