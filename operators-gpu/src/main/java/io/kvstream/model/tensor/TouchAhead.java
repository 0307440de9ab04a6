package io.kvstream.model.tensor;

import java.util.List;
import java.util.Locale;

/**
 * Whether the heap copies' kernels touch the next block's cache lines before working on the
 * current one ({@link InterleavedTensor#touch}): the Q8_0 many-token kernel, which decode runs at
 * batch 2 and up, and the fp32 kernels of Q4_0.
 *
 * <p>It pays where the hardware prefetcher does not keep up with the kernel and costs where it
 * does, because a touched line that is still on its way holds up the instructions behind it
 * until it arrives. Two build machines, 8 tokens of Q8_0: on an Intel Xeon synth 1B's layer
 * matrices took 83-90 ms touching against 128-135 ms not (docs/benchmarks.md, sixth stop); on an
 * AMD Zen 4 JMH's {@code MatMulBenchmark} (one thread, 142 MB) took 31.0 ms touching against 25.0
 * not, which is the speed of the same kernel in cache, and decode at batch 8 ran at 42-44 against
 * 49-54 tokens/s (nineteenth stop). So it is decided per JVM: by timing the kernel both
 * ways on the largest matrix when the weights are copied ({@code auto}, the default), or by
 * {@code -Dkvstream.cpu.touch=on|off}.
 */
public final class TouchAhead {

    /** {@code auto} (the default), {@code on} or {@code off}. */
    public static final String PROPERTY = "kvstream.cpu.touch";
    /** Matrices smaller than this fit in a server's last-level cache: timing them says nothing. */
    static final long MIN_BYTES = 64L << 20;
    /** Bytes one timed pass streams: more than a core's L2, a few milliseconds of work. */
    private static final long PASS_BYTES = 8L << 20;
    /** Calls before the one the warm-up measures its speed-up against. */
    private static final int WARMUP_CALLS = 4;
    private static final int WARMUP_GROUPS = 4;
    private static final long WARMUP_LIMIT_NS = 3_000_000_000L;
    private static final int ROUNDS = 6;

    /**
     * Read by {@link InterleavedTensor#touch}. Written only here, while the weights are copied
     * and before any step runs; the step's hand-off to the worker threads publishes it.
     */
    static boolean enabled = true;

    private TouchAhead() {}

    /** What {@link #decide} chose and why; the times are NaN where it did not time. */
    public record Decision(boolean on, double msTouching, double msNot, String why) {
        @Override
        public String toString() {
            return (on ? "on" : "off") + " (" + why + ")";
        }
    }

    /**
     * Sets whether to touch ahead from {@link #PROPERTY}, timing the largest of {@code matrices}
     * that touches, at 8 tokens, where it is {@code auto}.
     */
    public static Decision decide(List<FloatTensor> matrices) {
        return decide(matrices, System.getProperty(PROPERTY, "auto"), MIN_BYTES);
    }

    static Decision decide(List<FloatTensor> matrices, String mode, long minBytes) {
        String setting = mode.toLowerCase(Locale.ROOT);
        switch (setting) {
            case "on":
            case "off":
                enabled = setting.equals("on");
                return new Decision(enabled, Double.NaN, Double.NaN, "-D" + PROPERTY + "=" + setting);
            case "auto":
                break;
            default:
                throw new IllegalArgumentException(
                        String.format("-D%s must be auto, on or off, not '%s'", PROPERTY, mode));
        }
        InterleavedTensor largest = null;
        for (FloatTensor m : matrices) {
            if (m instanceof InterleavedTensor t && !m.quantizesActivations()
                    && (largest == null || t.quants.length > largest.quants.length)) {
                largest = t;
            }
        }
        if (largest == null || largest.quants.length < minBytes) {
            enabled = true;
            return new Decision(true, Double.NaN, Double.NaN, "no matrix that touches is larger than the caches");
        }
        return time(largest);
    }

    /**
     * The best of {@link #ROUNDS} passes each way, alternating, each pass over rows the previous
     * ones did not read, so that every pass streams from memory as decode does.
     */
    private static Decision time(InterleavedTensor m) {
        int tokens = InterleavedTensor.TOKENS;
        int cols = m.cols();
        int group = InterleavedTensor.GROUP;
        long rowBytes = (long) m.blocks * m.quantBytes;
        int groups = (m.rows() + group - 1) / group;
        int passRows = (int) Math.max(1, Math.min(groups / 4, PASS_BYTES / (rowBytes * group))) * group;
        float[] x = new float[tokens * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (i % 7 - 3) * 0.25f;
        }
        float[] out = new float[tokens * m.rows()];
        // Compiled by C2 before timing: a few groups at a time (a loop that never went round
        // twice would trap in the first pass), both ways, until a call runs at a tenth of the
        // first one's time, which only compiled vector code does (or a time limit).
        int warmupRows = Math.min(WARMUP_GROUPS * group, m.rows());
        long first = 0;
        long deadline = System.nanoTime() + WARMUP_LIMIT_NS;
        for (int i = 0; System.nanoTime() < deadline; i++) {
            enabled = i % 2 == 0;
            long start = System.nanoTime();
            m.dotRows(0, warmupRows, x, cols, tokens, out, m.rows());
            long ns = System.nanoTime() - start;
            if (i == WARMUP_CALLS) {
                first = ns;
            } else if (i > WARMUP_CALLS && ns * 10 < first) {
                break;
            }
        }
        double touching = Double.MAX_VALUE;
        double not = Double.MAX_VALUE;
        int from = 0;
        for (int round = 0; round < 2 * ROUNDS; round++) {
            enabled = round % 2 == 0;
            if (from + passRows > m.rows()) {
                from = 0;
            }
            int n = Math.min(passRows, m.rows() - from);
            long start = System.nanoTime();
            m.dotRows(from, n, x, cols, tokens, out, m.rows());
            double ms = (System.nanoTime() - start) / 1e6;
            from += passRows;
            if (enabled) {
                touching = Math.min(touching, ms);
            } else {
                not = Math.min(not, ms);
            }
        }
        enabled = touching < not;
        return new Decision(enabled, touching, not, String.format(Locale.ROOT,
                "%d tokens over %d MB of %s, best of %d: %.2f ms touching ahead, %.2f ms not; -D%s=on|off to choose",
                tokens, (long) passRows * rowBytes >> 20, m.name(), ROUNDS, touching, not, PROPERTY));
    }
}
