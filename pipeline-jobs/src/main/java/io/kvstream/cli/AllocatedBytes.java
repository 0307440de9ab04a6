package io.kvstream.cli;

import java.lang.management.ManagementFactory;

/**
 * Heap bytes allocated by the JVM's live threads, from HotSpot's per-thread counters: {@code bench}
 * checks with it that a timed prefill ran on compiled kernels, which allocate next to nothing.
 */
final class AllocatedBytes {

    private AllocatedBytes() {}

    /**
     * The sum over every live thread of the bytes it has allocated, or -1 where the JVM does not
     * count them. A thread that ended in between takes its count with it; the CPU backend's
     * workers live as long as the engine.
     */
    static long allThreads() {
        if (!(ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean threads)
                || !threads.isThreadAllocatedMemorySupported() || !threads.isThreadAllocatedMemoryEnabled()) {
            return -1;
        }
        long sum = 0;
        for (long bytes : threads.getThreadAllocatedBytes(threads.getAllThreadIds())) {
            // -1 for a thread that ended between the two calls.
            sum += Math.max(0, bytes);
        }
        return sum;
    }
}
