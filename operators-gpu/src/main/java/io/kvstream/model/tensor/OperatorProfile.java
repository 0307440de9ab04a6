package io.kvstream.model.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Feeds the Vector API's shared operator profile an FMA and an associative operator before any
 * kernel runs.
 *
 * <p>Every vector operation passes its operator through {@code VectorOperators.opCode}, one
 * static method whose type profile all callers in the JVM share; at its cast of the operator the
 * profile keeps the first two classes it sees. Where the first vector code to run used only
 * associative operators (ADD, MUL: {@code bench}'s bandwidth probe), C2 compiled that cast, where
 * the operator was not a constant, for them alone; the first FMA then hit a class-check trap
 * there, and the prefill kernels C2 compiled after it ran at 125-150 against 170-195 tokens/s
 * (the sixteenth stop found their accumulators boxed), in about a fifth of fresh Java 17 JVMs:
 * every slow one had that trap, no fast one did (docs/benchmarks.md, seventeenth stop). An FMA
 * and an ADD seen first fill both entries, and C2 does not compile the cast for one class where
 * the profile holds two.
 *
 * <p>The work is done once, by class initialization (66 ms on Java 17, 85 on 25, mostly
 * interpreted), which the first read of {@link #PREFERRED} runs: the classes that hold the
 * kernels' vector shapes take theirs from it, so none can run a vector operation before the
 * priming. Java 21 and 25 showed no slow JVMs of this kind; the priming runs there too, at the
 * same cost.
 */
public final class OperatorProfile {

    /**
     * The preferred float shape, the kernels' and the probes': reading it initializes this class,
     * and so primes the profile first.
     */
    public static final VectorSpecies<Float> PREFERRED = FloatVector.SPECIES_PREFERRED;
    /**
     * Read from arrays, not named, so that the profiled code cannot fold the operator's class in
     * and skip the profile: C1 drops the cast of a constant operator.
     */
    private static final VectorOperators.Binary[] BINARY =
            {VectorOperators.ADD, VectorOperators.MUL};
    private static final VectorOperators.Ternary[] TERNARY = {VectorOperators.FMA};
    /** Calls enough for the profile to count both, in the interpreter and in C1's profiled code. */
    private static final int CALLS = 20_000;
    /** Kept so that no compiler drops the loop as dead code. */
    @SuppressWarnings("unused")
    private static volatile float sink;

    static {
        FloatVector a = FloatVector.broadcast(PREFERRED, 1.0f);
        FloatVector b = FloatVector.broadcast(PREFERRED, 0.5f);
        FloatVector c = FloatVector.zero(PREFERRED);
        for (int i = 0; i < CALLS; i++) {
            c = c.lanewise(TERNARY[0], b, a).lanewise(BINARY[i & 1], b);
        }
        sink = c.lane(0);
    }

    private OperatorProfile() {}
}
