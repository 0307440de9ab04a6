package io.kvstream.pipeline.operator;

import io.kvstream.runtime.ForwardBackend;

import java.util.function.LongConsumer;
import java.util.function.UnaryOperator;

/**
 * The operator's test hooks, for the MiniCluster tests of {@code io.kvstream.it.reliability}: a
 * MiniCluster runs its tasks in the test's JVM, so a static hook reaches every (re)started
 * operator. Set them before the job starts; {@link #reset()} after each test.
 */
public final class FailureHooks {

    private FailureHooks() {}

    /** Wraps the forward backend of every operator opened from now on. */
    public static void decorateBackend(UnaryOperator<ForwardBackend> decorator) {
        SessionInferenceOperator.backendDecorator = decorator;
    }

    /** Runs at the start of every operator snapshot with its checkpoint id; may throw. */
    public static void onSnapshot(LongConsumer hook) {
        SessionInferenceOperator.snapshotHook = hook;
    }

    public static void reset() {
        SessionInferenceOperator.backendDecorator = UnaryOperator.identity();
        SessionInferenceOperator.snapshotHook = id -> {};
    }
}
