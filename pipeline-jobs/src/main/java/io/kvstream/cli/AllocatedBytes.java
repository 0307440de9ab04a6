package io.kvstream.cli;

import javax.annotation.Nullable;

import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.Map;

/**
 * Heap bytes the JVM's threads allocate from one moment on, from HotSpot's per-thread counters:
 * {@code bench} checks with it that a timed prefill ran on compiled kernels, which allocate next to
 * nothing.
 *
 * <p>Each thread's count is taken against its own count at the start (zero for a thread started
 * since), so a thread that ends in between, which takes its count with it, drops out instead of
 * subtracting everything it allocated before: other work in the JVM (a test suite's threads, a
 * pool shrinking) cannot make the figure fall short. What an ended thread allocated in between is
 * lost; the CPU backend's workers live as long as the engine.
 */
final class AllocatedBytes {

    private final com.sun.management.ThreadMXBean threads;
    private final Map<Long, Long> atStart;

    private AllocatedBytes(com.sun.management.ThreadMXBean threads) {
        this.threads = threads;
        this.atStart = counts(threads);
    }

    /** Counts from now on, or null where the JVM does not count each thread's allocations. */
    @Nullable
    static AllocatedBytes start() {
        if (!(ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean threads)
                || !threads.isThreadAllocatedMemorySupported() || !threads.isThreadAllocatedMemoryEnabled()) {
            return null;
        }
        return new AllocatedBytes(threads);
    }

    /** Bytes allocated since {@link #start()} by the threads alive now. */
    long sinceStart() {
        long sum = 0;
        for (Map.Entry<Long, Long> now : counts(threads).entrySet()) {
            sum += now.getValue() - atStart.getOrDefault(now.getKey(), 0L);
        }
        return sum;
    }

    private static Map<Long, Long> counts(com.sun.management.ThreadMXBean threads) {
        long[] ids = threads.getAllThreadIds();
        long[] bytes = threads.getThreadAllocatedBytes(ids);
        Map<Long, Long> counts = new HashMap<>(ids.length * 2);
        for (int i = 0; i < ids.length; i++) {
            // -1 for a thread that ended between the two calls.
            if (bytes[i] >= 0) {
                counts.put(ids[i], bytes[i]);
            }
        }
        return counts;
    }
}
