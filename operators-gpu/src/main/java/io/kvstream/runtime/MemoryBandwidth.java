package io.kvstream.runtime;

import jdk.incubator.vector.ByteVector;
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
 */
public final class MemoryBandwidth {

    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_PREFERRED;
    private static final int BYTES = 1 << 30;

    private MemoryBandwidth() {}

    /** Best of several passes over a 1 GiB array, in bytes per second. */
    public static double measure(int threads) {
        byte[] data = new byte[BYTES];
        for (int i = 0; i < BYTES; i += 4096) {
            data[i] = (byte) i;
        }
        long[] sink = new long[threads];
        double best = 0;
        try (Parallel parallel = new Parallel(threads)) {
            int chunk = BYTES / threads / B.length() * B.length();
            for (int pass = 0; pass < 6; pass++) {
                long t0 = System.nanoTime();
                parallel.forRange(threads, 1, (worker, from, to) -> {
                    for (int part = from; part < to; part++) {
                        sink[worker] += sum(data, part * chunk, chunk);
                    }
                });
                double seconds = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, (double) chunk * threads / seconds);
            }
        }
        long total = 0;
        for (long s : sink) {
            total += s;
        }
        return total == Long.MIN_VALUE ? 0 : best;
    }

    private static long sum(byte[] data, int from, int length) {
        ByteVector acc = ByteVector.zero(B);
        for (int i = from; i < from + length; i += B.length()) {
            acc = acc.add(ByteVector.fromArray(B, data, i));
        }
        return acc.reduceLanesToLong(VectorOperators.ADD);
    }
}
