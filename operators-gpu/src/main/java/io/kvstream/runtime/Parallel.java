package io.kvstream.runtime;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads for the data-parallel loops of the forward pass.
 *
 * <p>One decode step of a small model runs a hundred or more short loops, so handing a loop to
 * the workers must cost microseconds, not the tens of microseconds of an executor hand-off:
 * workers spin briefly on a generation counter before they park, and the caller works on the
 * loop too. Work is cut into chunks taken from a shared counter, so uneven chunks balance.
 * Loops run one at a time (the forward pass is driven from one thread).
 *
 * <p>Spinning is kept short because the cores are shared: a TaskManager runs one of these per
 * slot, next to Flink's own threads, and a worker that spins between steps (while the job
 * samples, emits and checkpoints) takes a core another subtask needs. A worker spins about the
 * gap between two loops of one step, then parks until the next loop unparks it; the caller,
 * waiting for a helper that the OS descheduled, yields its core instead of spinning on.
 */
public final class Parallel implements AutoCloseable {

    /** Body of a parallel loop over {@code [from, to)}, run on worker {@code worker}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int worker, int from, int to);
    }

    /** How long an idle worker spins before parking: covers the gap between two loops. */
    private static final long SPIN_NANOS = 20_000;
    /** How long the caller spins for helpers to finish before it yields its core to them. */
    private static final long AWAIT_SPIN_NANOS = 20_000;

    private final int threads;
    private final Thread[] workers;
    private volatile boolean closed;
    private volatile int generation;
    /** Loops run one at a time, so one is reused: handing out work allocates nothing. */
    private final Loop loop;

    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("need at least one thread, got " + threads);
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        this.loop = new Loop(threads - 1);
        for (int w = 1; w < threads; w++) {
            final int id = w;
            Thread t = new Thread(() -> workerLoop(id), "kvstream-cpu-" + id);
            t.setDaemon(true);
            workers[w - 1] = t;
            t.start();
        }
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
        run(n, grain, body, false);
    }

    /**
     * As {@link #forRange}, with each thread starting on a share of its own: thread {@code i}
     * (the caller being 0) takes the {@code i}-th of {@link #threads} contiguous runs of chunks,
     * in order, then whatever is left of the others' runs, from their ends. Balanced as {@link
     * #forRange} is, but a thread's chunks follow each other in memory where the chunks do:
     * the panels of a prefill multiply ({@code RowLaneGemm}) widen each in turn from the matrix,
     * and taken alternately by two threads, every panel began a new stream of reads (synth 1B's
     * layer matrices at 128 tokens, 2 threads, one JVM alternating: 2-3% faster this way).
     */
    public void forShares(int n, int grain, RangeBody body) {
        run(n, grain, body, true);
    }

    private void run(int n, int grain, RangeBody body, boolean shares) {
        if (n <= 0) {
            return;
        }
        if (threads == 1 || n <= grain) {
            // Callers size per-chunk scratch by the grain, so chunks keep it even here.
            for (int from = 0; from < n; from += grain) {
                body.run(0, from, Math.min(n, from + grain));
            }
            return;
        }
        loop.reset(n, grain, body, shares);
        generation++; // volatile write: publishes the loop's fields to the workers
        for (Thread t : workers) {
            LockSupport.unpark(t);
        }
        loop.work(0);
        loop.awaitHelpers();
    }

    private void workerLoop(int id) {
        int seen = 0;
        while (!closed) {
            long spinStart = System.nanoTime();
            while (generation == seen && !closed) {
                if (System.nanoTime() - spinStart < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    // forRange unparks every worker after it bumps the generation; a permit
                    // given before this park makes it return at once.
                    LockSupport.park(this);
                }
            }
            if (closed) {
                return;
            }
            seen = generation;
            loop.work(id);
            loop.helperDone();
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread t : workers) {
            LockSupport.unpark(t);
        }
    }

    private static final class Loop {
        private final int helpers;
        private final AtomicInteger next = new AtomicInteger();
        /**
         * For {@link #forShares}: thread {@code i}'s run of chunks, its next chunk in the high
         * 32 bits and its end in the low 32, so that its owner and a thread taking from its end
         * agree on one value.
         */
        private final AtomicLongArray shares;
        private boolean shared;
        private final AtomicInteger running = new AtomicInteger();
        private int n;
        private int grain;
        private RangeBody body;
        private volatile Throwable failure;

        Loop(int helpers) {
            this.helpers = helpers;
            this.shares = new AtomicLongArray(helpers + 1);
        }

        /** A new loop; with {@code shared}, its chunks split into one run per thread, which {@link #work} takes so. */
        void reset(int n, int grain, RangeBody body, boolean shared) {
            this.n = n;
            this.grain = grain;
            this.body = body;
            this.failure = null;
            this.shared = shared;
            next.set(0);
            running.set(helpers);
            if (shared) {
                int chunks = (n + grain - 1) / grain;
                int parts = shares.length();
                for (int i = 0; i < parts; i++) {
                    long from = (long) chunks * i / parts;
                    long to = (long) chunks * (i + 1) / parts;
                    shares.set(i, from << 32 | to);
                }
            }
        }

        void work(int worker) {
            try {
                if (shared) {
                    int parts = shares.length();
                    for (int i = 0; i < parts; i++) {
                        workShare((worker + i) % parts, worker, i == 0);
                    }
                    return;
                }
                int from;
                while (failure == null && (from = next.getAndAdd(grain)) < n) {
                    body.run(worker, from, Math.min(n, from + grain));
                }
            } catch (Throwable t) {
                failure = t;
            }
        }

        /** The chunks left in run {@code share}: from its start if {@code own}, else from its end. */
        private void workShare(int share, int worker, boolean own) {
            while (failure == null) {
                long v = shares.get(share);
                int first = (int) (v >>> 32);
                int end = (int) v;
                if (first >= end) {
                    return;
                }
                int chunk = own ? first : end - 1;
                long taken = own ? (long) (first + 1) << 32 | end : (long) first << 32 | (end - 1);
                if (shares.compareAndSet(share, v, taken)) {
                    int from = chunk * grain;
                    body.run(worker, from, Math.min(n, from + grain));
                }
            }
        }

        void helperDone() {
            running.decrementAndGet();
        }

        void awaitHelpers() {
            // Helpers finish their last chunk within microseconds of the caller, unless the OS
            // took their core away: then yield it back rather than spin against them.
            long start = System.nanoTime();
            while (running.get() > 0) {
                if (System.nanoTime() - start < AWAIT_SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield();
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
