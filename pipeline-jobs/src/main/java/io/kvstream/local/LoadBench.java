package io.kvstream.local;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Many concurrent sessions through the local stack, and what they cost in memory: {@code kvstream
 * local --bench load}. Beside throughput and time to first token ({@link PipelineBench#level}),
 * it measures the live heap (what the heap holds after each garbage collection, sampled through
 * the run, so garbage does not count) against the hot-set budget, the process's resident memory
 * (RocksDB's native memory included), and the job's checkpoints. Idle sessions must leave memory:
 * the live heap may grow by the hot set's budget and no more, however many sessions there are.
 */
final class LoadBench {

    /** What one run measured. */
    record Result(
            PipelineBench.ThroughputResult throughput, long liveHeapBefore, long liveHeapPeak, long liveHeapAfter,
            long hotSetBudget, long residentBytes, LocalStack.CheckpointCounts checkpoints) {

        /** Live heap the run added at its peak, beyond what the stack held before. */
        long heapGrowth() {
            return liveHeapPeak - liveHeapBefore;
        }
    }

    private LoadBench() {}

    static Result run(LocalStack stack, PipelineBench bench, int sessions, int turns, int maxNewTokens,
                      long hotSetBudget, PrintStream out) throws Exception {
        long before = liveHeapNow();
        AtomicLong peak = new AtomicLong(before);
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "load-bench-heap");
            t.setDaemon(true);
            return t;
        });
        sampler.scheduleAtFixedRate(() -> peak.accumulateAndGet(liveHeapAfterLastGc(), Math::max),
                0, 200, TimeUnit.MILLISECONDS);
        PipelineBench.ThroughputResult r;
        try {
            out.printf("load: %d sessions x %d turns, at most %d new tokens a turn, hot set %d MiB%n",
                    sessions, turns, maxNewTokens, hotSetBudget >> 20);
            r = bench.level(sessions, turns, maxNewTokens);
        } finally {
            sampler.shutdownNow();
        }
        long after = liveHeapNow();
        peak.accumulateAndGet(after, Math::max);
        Result result = new Result(r, before, peak.get(), after, hotSetBudget, residentBytes(), stack.checkpoints());
        out.printf("  %d requests, %d tokens in %.1f s: %.1f tokens/s; time to first token p50 %.0f ms, p99 %.0f ms"
                        + " (pipeline %.0f/%.0f)%n",
                r.requests(), r.generatedTokens(), r.seconds(), r.tokensPerSecond(), r.ttftMs().p50(),
                r.ttftMs().p99(), r.serverTtftMs().p50(), r.serverTtftMs().p99());
        out.printf("  live heap %.0f MiB before, %.0f MiB at the peak (+%.0f MiB; hot-set budget %d MiB), %.0f MiB"
                        + " after; resident %.0f MiB%n",
                mib(before), mib(result.liveHeapPeak()), mib(result.heapGrowth()), hotSetBudget >> 20, mib(after),
                mib(result.residentBytes()));
        LocalStack.CheckpointCounts c = result.checkpoints();
        out.printf("  checkpoints: %s; %.1f KiB of state per session%n", c,
                c.lastStateBytes() / 1024.0 / Math.max(1, sessions));
        return result;
    }

    private static double mib(long bytes) {
        return bytes / 1048576.0;
    }

    /** Collects (a full collection, which returns once done), then what the heap holds. */
    private static long liveHeapNow() {
        System.gc();
        return liveHeapAfterLastGc();
    }

    /** The heap's pools as the last collection left them: live data plus what it did not reach. */
    private static long liveHeapAfterLastGc() {
        long total = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            MemoryUsage usage = pool.getCollectionUsage();
            if (pool.getType() == MemoryType.HEAP && usage != null) {
                total += usage.getUsed();
            }
        }
        return total;
    }

    /** VmRSS from /proc, or -1 where there is none. */
    private static long residentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (Exception e) {
            // Not Linux: no resident size.
        }
        return -1;
    }
}
