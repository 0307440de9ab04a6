package io.kvstream.runtime;

import io.kvstream.model.tensor.OperatorProfile;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;


/**
 * Measures the machine's sustained memory read bandwidth, the bound that batch-1 decode (which
 * reads every weight once per token) is compared against: threads stream disjoint parts of a heap
 * array much larger than the caches with vector loads, best of several passes.
 *
 * <p>A heap array, not a mapped buffer: Java 17 has no vector load from a buffer, and copying
 * pieces out of one first measures the copy (7.6 GB/s here on Java 17 against 23 GB/s on 25),
 * which would put the bound below what decode reaches.
 *
 * <p>Floats of the CPU kernels' own vector shape, not bytes of the widest: the Vector API's
 * methods keep one type profile per element type for every shape, and after this loop had run
 * 64-byte vectors through them, C2 no longer inlined the 16-byte vector operations of the Q4_0
 * kernels in the same JVM, which boxed them (Q4_0 decode at 5.2 instead of 12.1 tokens/s on
 * Java 17 when {@code bench} measured the bound first).
 */
public final class MemoryBandwidth {

    private static final VectorSpecies<Float> F = OperatorProfile.PREFERRED;
    private static final int FLOATS = 1 << 28;

    private MemoryBandwidth() {}

    /** Best of several passes over a 1 GiB array, in bytes per second. */
    public static double measure(int threads) {
        float[] data = new float[FLOATS];
        for (int i = 0; i < FLOATS; i += 1024) {
            data[i] = i;
        }
        double[] sink = new double[threads];
        double best = 0;
        try (Parallel parallel = new Parallel(threads)) {
            int chunk = FLOATS / threads / F.length() * F.length();
            for (int pass = 0; pass < 6; pass++) {
                long t0 = System.nanoTime();
                parallel.forRange(threads, 1, (worker, from, to) -> {
                    for (int part = from; part < to; part++) {
                        sink[worker] += sum(data, part * chunk, chunk);
                    }
                });
                double seconds = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, (double) chunk * Float.BYTES * threads / seconds);
            }
        }
        double total = 0;
        for (double s : sink) {
            total += s;
        }
        // Reads the sums, so that the loads cannot be dropped as dead code.
        return Double.isNaN(total) ? 0 : best;
    }

    private static float sum(float[] data, int from, int length) {
        FloatVector acc = FloatVector.zero(F);
        for (int i = from; i < from + length; i += F.length()) {
            acc = acc.add(FloatVector.fromArray(F, data, i));
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}
