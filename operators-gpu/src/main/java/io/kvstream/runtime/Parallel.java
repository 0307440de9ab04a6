package io.kvstream.runtime;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads for the data-parallel loops of the forward pass.
 *
 * <p>Work is cut into chunks that workers (and the calling thread) take from a shared counter, so
 * uneven rows or sequences balance themselves. One forward step runs many such loops back to
 * back; keeping the workers alive avoids a thread start per loop.
 */
public final class Parallel implements AutoCloseable {

    /** Body of a parallel loop over {@code [from, to)}, run on worker {@code worker}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int worker, int from, int to);
    }

    private final int threads;
    private final ExecutorService pool;

    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("need at least one thread, got " + threads);
        }
        this.threads = threads;
        AtomicInteger ids = new AtomicInteger();
        ThreadFactory factory =
                r -> {
                    Thread t = new Thread(r, "kvstream-cpu-" + ids.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                };
        this.pool = threads > 1 ? Executors.newFixedThreadPool(threads - 1, factory) : null;
    }

    /** Threads that run a loop, the caller included: size per-worker scratch space by this. */
    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body} over {@code [0, n)} in chunks of {@code grain} elements and returns when
     * all are done. The first exception thrown by any chunk is rethrown here.
     */
    public void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunks = (n + grain - 1) / grain;
        int helpers = Math.min(threads - 1, chunks - 1);
        if (helpers <= 0) {
            body.run(0, 0, n);
            return;
        }
        Loop loop = new Loop(n, grain, body, helpers);
        for (int w = 1; w <= helpers; w++) {
            final int worker = w;
            pool.execute(() -> loop.work(worker));
        }
        loop.work(0);
        loop.awaitHelpers();
    }

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdownNow();
        }
    }

    private static final class Loop {
        private final int n;
        private final int grain;
        private final RangeBody body;
        private final AtomicInteger next = new AtomicInteger();
        private final AtomicInteger running;
        private final Thread caller = Thread.currentThread();
        private volatile Throwable failure;

        Loop(int n, int grain, RangeBody body, int helpers) {
            this.n = n;
            this.grain = grain;
            this.body = body;
            this.running = new AtomicInteger(helpers);
        }

        void work(int worker) {
            try {
                int from;
                while (failure == null && (from = next.getAndAdd(grain)) < n) {
                    body.run(worker, from, Math.min(n, from + grain));
                }
            } catch (Throwable t) {
                failure = t;
            } finally {
                if (worker != 0 && running.decrementAndGet() == 0) {
                    LockSupport.unpark(caller);
                }
            }
        }

        void awaitHelpers() {
            // Chunks are short (microseconds to milliseconds): spin briefly, then park.
            int spins = 0;
            while (running.get() > 0) {
                if (++spins < 2000) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(this, 50_000);
                }
            }
            Throwable t = failure;
            if (t instanceof RuntimeException) {
                throw (RuntimeException) t;
            } else if (t instanceof Error) {
                throw (Error) t;
            } else if (t != null) {
                throw new IllegalStateException(t);
            }
        }
    }
}
