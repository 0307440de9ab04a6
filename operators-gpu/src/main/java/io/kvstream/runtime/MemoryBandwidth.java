package io.kvstream.runtime;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Measures the machine's sustained memory read bandwidth the way decode uses memory: threads
 * streaming disjoint parts of a buffer much larger than the caches, with vector loads. This is
 * the bound that batch-1 decode, which reads every weight once per token, is compared against.
 */
public final class MemoryBandwidth {

    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_PREFERRED;
    private static final int BYTES = 1 << 30;

    private MemoryBandwidth() {}

    /** Best of several passes over a 1 GiB off-heap buffer, in bytes per second. */
    public static double measure(int threads) {
        ByteBuffer buffer = ByteBuffer.allocateDirect(BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < BYTES; i += 4096) {
            buffer.put(i, (byte) i);
        }
        long[] sink = new long[threads];
        double best = 0;
        try (Parallel parallel = new Parallel(threads)) {
            int chunk = BYTES / threads;
            for (int pass = 0; pass < 6; pass++) {
                long t0 = System.nanoTime();
                parallel.forRange(threads, 1, (worker, from, to) -> {
                    for (int part = from; part < to; part++) {
                        sink[worker] += sum(buffer, part * chunk, chunk);
                    }
                });
                double seconds = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, BYTES / seconds);
            }
        }
        long total = 0;
        for (long s : sink) {
            total += s;
        }
        return total == Long.MIN_VALUE ? 0 : best;
    }

    private static long sum(ByteBuffer buffer, int from, int length) {
        ByteVector acc = ByteVector.zero(B);
        int step = B.length() * 4;
        int end = from + length - step;
        int i = from;
        for (; i <= end; i += step) {
            acc = acc.add(ByteVector.fromByteBuffer(B, buffer, i, ByteOrder.LITTLE_ENDIAN))
                    .add(ByteVector.fromByteBuffer(B, buffer, i + B.length(), ByteOrder.LITTLE_ENDIAN))
                    .add(ByteVector.fromByteBuffer(B, buffer, i + 2 * B.length(), ByteOrder.LITTLE_ENDIAN))
                    .add(ByteVector.fromByteBuffer(B, buffer, i + 3 * B.length(), ByteOrder.LITTLE_ENDIAN));
        }
        return acc.reduceLanesToLong(jdk.incubator.vector.VectorOperators.ADD);
    }
}
