package io.kvstream.testing;

import io.kvstream.generate.Engine;
import io.kvstream.model.ModelConfig;
import io.kvstream.runtime.ForwardBackend;
import io.kvstream.runtime.SequenceStep;

import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * A forward backend that throws instead of running a step the predicate picks, as a bug or a
 * crash would: the pipeline's failure tests inject it through the operator's backend hook.
 */
public final class FailingBackend implements ForwardBackend {

    /** A chat text that carries the reference model's image token, which no chat turn holds otherwise. */
    public static final String POISON_TEXT = "look at this <|img|> now.";

    private final ForwardBackend delegate;
    private final Predicate<List<SequenceStep>> fails;
    private final Supplier<? extends Throwable> failure;

    public FailingBackend(ForwardBackend delegate, Predicate<List<SequenceStep>> fails, Supplier<? extends Throwable> failure) {
        this.delegate = delegate;
        this.fails = fails;
        this.failure = failure;
    }

    /** True when a step of the batch carries the token as text (not an embedded frame patch). */
    public static boolean carries(List<SequenceStep> batch, int token) {
        for (SequenceStep step : batch) {
            for (int i = 0; i < step.count(); i++) {
                if (step.token(i) == token && !step.isEmbedded(i)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The reference model's id of {@code <|img|>}, which {@link #POISON_TEXT} carries. */
    public static int imageToken() throws Exception {
        try (Engine engine = Engine.open(RefModel.file("refmodel-q8_0.gguf"), null, null, 1)) {
            int[] ids = engine.tokenizer().encode("<|img|>");
            if (ids.length != 1) {
                throw new IllegalStateException("<|img|> is not one token: " + java.util.Arrays.toString(ids));
            }
            return ids[0];
        }
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
