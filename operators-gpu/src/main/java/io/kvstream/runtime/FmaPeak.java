package io.kvstream.runtime;

import io.kvstream.model.tensor.OperatorProfile;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Measures the machine's fp32 fused multiply-add peak as the CPU backend can reach it: every
 * thread runs independent vector FMAs over registers (no memory traffic) with the Vector API's
 * preferred species. This is the bound that prefill, which multiplies every weight by every
 * token of the step, is compared against, as decode is compared against {@link MemoryBandwidth}.
 */
public final class FmaPeak {

    private static final VectorSpecies<Float> F = OperatorProfile.PREFERRED;

    /**
     * Independent accumulation chains per thread. An FMA's result is ready after about 4 cycles
     * and cores issue up to 2 a cycle, so fewer than 8 chains would measure latency, not
     * throughput; 12 fit the 16 vector registers of AVX2 with the two operands.
     */
    static final int CHAINS = 12;

    /** Loop iterations per chunk of work: about a millisecond of FMAs on one core. */
    static final int ITERATIONS = 1 << 17;

    /** Chunks per thread in a pass: a worker that starts late takes fewer of them. */
    private static final int CHUNKS_PER_THREAD = 16;

    private static final int WARMUP_PASSES = 20;
    /** Passes are a few milliseconds: many, so that one lands in a quiet moment of a shared machine. */
    private static final int TIMED_PASSES = 30;

    private FmaPeak() {}

    /** Lanes of the vectors measured with (the preferred species). */
    public static int lanes() {
        return F.length();
    }

    /** Best of several passes over all {@code threads}, in floating-point operations per second (an FMA is two). */
    public static double measure(int threads) {
        int chunks = threads * CHUNKS_PER_THREAD;
        double flopsPerPass = 2.0 * F.length() * CHAINS * ITERATIONS * chunks;
        float[] sink = new float[threads];
        double best = 0;
        try (Parallel parallel = new Parallel(threads)) {
            // The first passes get the chunk compiled by C2 (and its vectors into registers).
            for (int pass = 0; pass < WARMUP_PASSES + TIMED_PASSES; pass++) {
                long t0 = System.nanoTime();
                parallel.forRange(chunks, 1, (worker, from, to) -> {
                    for (int c = from; c < to; c++) {
                        sink[worker] += chunk(c);
                    }
                });
                double seconds = (System.nanoTime() - t0) / 1e9;
                if (pass >= WARMUP_PASSES) {
                    best = Math.max(best, flopsPerPass / seconds);
                }
            }
        }
        float total = 0;
        for (float s : sink) {
            total += s;
        }
        // Uses the sums, so that the JIT cannot drop the loops; they are finite by construction.
        return Float.isNaN(total) ? 0 : best;
    }

    /** The recurrence's factor: below 1, so every chain tends to {@code a / (1 - B)} wherever it starts. */
    static final float B = 1 - 0x1p-16f;

    /**
     * {@link #ITERATIONS} steps of {@code acc = acc * B + a} on each of {@link #CHAINS} vectors,
     * chain {@code k} starting at {@code 100 k}; returns the sum of all lanes of all chains.
     */
    static float chunk(int seed) {
        FloatVector a = FloatVector.broadcast(F, 1e-3f * (1 + (seed & 7)));
        FloatVector b = FloatVector.broadcast(F, B);
        FloatVector c0 = FloatVector.broadcast(F, 0f);
        FloatVector c1 = FloatVector.broadcast(F, 100f);
        FloatVector c2 = FloatVector.broadcast(F, 200f);
        FloatVector c3 = FloatVector.broadcast(F, 300f);
        FloatVector c4 = FloatVector.broadcast(F, 400f);
        FloatVector c5 = FloatVector.broadcast(F, 500f);
        FloatVector c6 = FloatVector.broadcast(F, 600f);
        FloatVector c7 = FloatVector.broadcast(F, 700f);
        FloatVector c8 = FloatVector.broadcast(F, 800f);
        FloatVector c9 = FloatVector.broadcast(F, 900f);
        FloatVector c10 = FloatVector.broadcast(F, 1000f);
        FloatVector c11 = FloatVector.broadcast(F, 1100f);
        for (int i = 0; i < ITERATIONS; i++) {
            c0 = c0.fma(b, a);
            c1 = c1.fma(b, a);
            c2 = c2.fma(b, a);
            c3 = c3.fma(b, a);
            c4 = c4.fma(b, a);
            c5 = c5.fma(b, a);
            c6 = c6.fma(b, a);
            c7 = c7.fma(b, a);
            c8 = c8.fma(b, a);
            c9 = c9.fma(b, a);
            c10 = c10.fma(b, a);
            c11 = c11.fma(b, a);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .reduceLanes(VectorOperators.ADD);
    }
}
