package io.kvstream.runtime;

import io.kvstream.model.ModelConfig;

import java.util.List;

/**
 * Runs the model over a batch of sequences in one step. Each sequence brings its own new tokens
 * and its own cache; the weights are read once for the whole batch. Results for a sequence do not
 * depend on what else is in its batch.
 */
public interface ForwardBackend extends AutoCloseable {

    ModelConfig config();

    /**
     * Feeds every step's tokens through the model, appends them to the steps' caches and writes
     * the requested logits into each step.
     */
    void forward(List<SequenceStep> batch);

    @Override
    void close();
}
