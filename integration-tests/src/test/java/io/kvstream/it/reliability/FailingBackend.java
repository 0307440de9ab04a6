package io.kvstream.it.reliability;

import io.kvstream.model.ModelConfig;
import io.kvstream.runtime.ForwardBackend;
import io.kvstream.runtime.SequenceStep;

import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

/** A forward backend that throws instead of running a step the predicate picks, as a bug or a crash would. */
final class FailingBackend implements ForwardBackend {

    private final ForwardBackend delegate;
    private final Predicate<List<SequenceStep>> fails;
    private final Supplier<? extends Throwable> failure;

    FailingBackend(ForwardBackend delegate, Predicate<List<SequenceStep>> fails, Supplier<? extends Throwable> failure) {
        this.delegate = delegate;
        this.fails = fails;
        this.failure = failure;
    }

    /** True when a step of the batch carries the token as text (not an embedded frame patch). */
    static boolean carries(List<SequenceStep> batch, int token) {
        for (SequenceStep step : batch) {
            for (int i = 0; i < step.count(); i++) {
                if (step.token(i) == token && !step.isEmbedded(i)) {
                    return true;
                }
            }
        }
        return false;
    }

    @Override
    public ModelConfig config() {
        return delegate.config();
    }

    @Override
    public void forward(List<SequenceStep> batch) {
        if (fails.test(batch)) {
            Throwable t = failure.get();
            if (t instanceof RuntimeException r) {
                throw r;
            }
            throw (Error) t;
        }
        delegate.forward(batch);
    }

    @Override
    public void close() {
        delegate.close();
    }
}
