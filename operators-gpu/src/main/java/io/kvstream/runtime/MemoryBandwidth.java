package io.kvstream.runtime;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Measures the machine's sustained memory read bandwidth the way decode uses memory: threads
 * streaming disjoint parts of an off-heap buffer much larger than the caches. Like the weight
 * kernels, each thread copies a small piece at a time into a heap array that stays in L1 and
 * sums it there with vector loads. This is the bound that batch-1 decode, which reads every
 * weight once per token, is compared against.
 */
public final class MemoryBandwidth {

    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_PREFERRED;
    private static final int BYTES = 1 << 30;
    /** Bytes copied out at a time: a weight row's worth, well inside L1. */
    private static final int PIECE = 8 << 10;

    private MemoryBandwidth() {}

    /** Best of several passes over a 1 GiB off-heap buffer, in bytes per second. */
    public static double measure(int threads) {
        ByteBuffer buffer = ByteBuffer.allocateDirect(BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < BYTES; i += 4096) {
            buffer.put(i, (byte) i);
        }
        long[] sink = new long[threads];
        byte[][] pieces = new byte[threads][PIECE];
        double best = 0;
        try (Parallel parallel = new Parallel(threads)) {
            int chunk = BYTES / threads;
            for (int pass = 0; pass < 6; pass++) {
                long t0 = System.nanoTime();
                parallel.forRange(threads, 1, (worker, from, to) -> {
                    for (int part = from; part < to; part++) {
                        sink[worker] += sum(buffer, part * chunk, chunk, pieces[worker]);
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

    private static long sum(ByteBuffer buffer, int from, int length, byte[] piece) {
        ByteVector acc = ByteVector.zero(B);
        int n = piece.length;
        for (int at = from; at + n <= from + length; at += n) {
            buffer.get(at, piece, 0, n);
            for (int i = 0; i < n; i += B.length()) {
                acc = acc.add(ByteVector.fromArray(B, piece, i));
            }
        }
        return acc.reduceLanesToLong(VectorOperators.ADD);
    }
}
