package io.kvstream.generate;

import io.kvstream.kv.KvCache;
import io.kvstream.runtime.ForwardBackend;
import io.kvstream.runtime.SequenceStep;
import io.kvstream.sampling.Sampler;

import javax.annotation.Nullable;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Continuous batching over a forward backend: every step carries one decode token for each
 * sequence that is generating and prefill chunks for sequences still reading their prompt, up to
 * a token budget. Sequences join as others finish, so the batch stays full.
 *
 * <p>Single-threaded: the caller drives it with {@link #step()} (the backend parallelizes inside
 * a step). Results per sequence do not depend on the batch, so the order in which requests join
 * changes nothing but speed.
 */
public final class ContinuousBatcher {

    private final ForwardBackend backend;
    private final int maxSequences;
    private final int maxStepTokens;
    private final int prefillChunk;
    private final ArrayDeque<GenerationRequest> waiting = new ArrayDeque<>();
    private final List<GenerationRequest> active = new ArrayList<>();
    private final List<SequenceStep> steps = new ArrayList<>();
    private final List<GenerationRequest> inStep = new ArrayList<>();
    private final List<SequenceStep> stepPool = new ArrayList<>();
    private final Sampler sampler = new Sampler();
    private long stepsRun;
    private long tokensRun;

    /**
     * @param maxSequences sequences generating at once
     * @param maxStepTokens tokens per step, over all sequences (decode tokens count one each)
     * @param prefillChunk most prompt tokens one sequence feeds in a step
     */
    public ContinuousBatcher(
            ForwardBackend backend, int maxSequences, int maxStepTokens, int prefillChunk) {
        if (maxSequences < 1 || maxStepTokens < 1 || prefillChunk < 1) {
            throw new IllegalArgumentException(
                    String.format(
                            "batch limits must be positive: sequences=%d stepTokens=%d chunk=%d",
                            maxSequences, maxStepTokens, prefillChunk));
        }
        this.backend = backend;
        this.maxSequences = maxSequences;
        this.maxStepTokens = maxStepTokens;
        this.prefillChunk = prefillChunk;
    }

    /** Queues a request; it starts when a slot frees up. Prompts too long fail at once. */
    public void submit(GenerationRequest request) {
        KvCache cache = request.cache();
        if (request.prompt().length() == 0) {
            fail(request, "empty prompt");
        } else if (request.prompt().length() > cache.remaining()) {
            fail(
                    request,
                    String.format(
                            "prompt of %d tokens does not fit: the cache holds %d tokens and"
                                    + " takes %d more (context %d)",
                            request.prompt().length(), cache.tokens(), cache.remaining(),
                            backend.config().contextLength()));
        } else {
            waiting.add(request);
        }
    }

    /** True while any request is waiting or running. */
    public boolean busy() {
        return !waiting.isEmpty() || !active.isEmpty();
    }

    /** Runs steps until every submitted request has finished. */
    public void runToCompletion() {
        while (busy()) {
            step();
        }
    }

    public long stepsRun() {
        return stepsRun;
    }

    public long tokensRun() {
        return tokensRun;
    }

    /** Runs one forward step over the active sequences; returns false when there was nothing. */
    public boolean step() {
        while (active.size() < maxSequences && !waiting.isEmpty()) {
            active.add(waiting.poll());
        }
        if (active.isEmpty()) {
            return false;
        }
        steps.clear();
        inStep.clear();
        int budget = maxStepTokens;
        GenerationRequest alone = firstIsolated();
        // Decode tokens first: they keep generating sequences moving at one token per step.
        // Indexed loops: this runs every step, and an iterator is not always scalar-replaced.
        for (int i = 0; i < active.size(); i++) {
            GenerationRequest r = active.get(i);
            if (r.prefillDone() && budget > 0 && (alone == null || r == alone)) {
                SequenceStep step = nextStep(r);
                step.add(r.pending());
                budget--;
            }
        }
        for (int i = 0; i < active.size(); i++) {
            GenerationRequest r = active.get(i);
            if (!r.prefillDone() && budget > 0 && (alone == null || r == alone)) {
                int chunk = Math.min(prefillChunk, r.cache().maxStepTokens());
                int n = Math.min(Math.min(chunk, budget), r.prompt().length() - r.prefilled());
                SequenceStep step = nextStep(r);
                if (r.prefilled() == 0 && r.maxNewTokens() > 0) {
                    r.cache().startTurn();
                }
                r.prompt().feed(step, r.prefilled(), n);
                r.advancePrefill(n);
                step.retrieves(r.maxNewTokens() > 0);
                // The cache compresses the prompt once it is all in, whatever the chunking.
                step.commits(r.prefillDone());
                budget -= n;
            }
        }
        try {
            backend.forward(steps);
        } catch (RuntimeException e) {
            // One sequence's failure must not take the others down; which one failed is not known
            // when several shared the step, so all of them end for their caller to retry.
            String error = String.format(
                    "the forward step failed (%d sequences shared it): %s", inStep.size(), e);
            for (int i = 0; i < inStep.size(); i++) {
                finish(inStep.get(i), FinishReason.STEP_FAILED, error);
            }
            active.removeIf(GenerationRequest::finished);
            stepsRun++;
            return true;
        }
        stepsRun++;
        tokensRun += maxStepTokens - budget;
        int vocab = backend.config().vocabSize();
        for (int i = 0; i < inStep.size(); i++) {
            GenerationRequest r = inStep.get(i);
            if (!r.prefillDone()) {
                continue;
            }
            if (r.maxNewTokens() == 0) {
                finish(r, FinishReason.LENGTH, null);
                continue;
            }
            SequenceStep step = steps.get(i);
            int index = r.generatedCount();
            int token = sampler.sample(
                    step.logits(), 0, vocab, r.sampling(), r.history(), r.historyLength(), index);
            if (r.isStop(token)) {
                finish(r, FinishReason.STOP, null);
                continue;
            }
            r.record(token);
            try {
                r.listener().onToken(r, token, index);
            } catch (RuntimeException e) {
                fail(r, "serving the token failed: " + e);
                continue;
            }
            if (r.generatedCount() >= r.maxNewTokens()) {
                finish(r, FinishReason.LENGTH, null);
            } else if (r.cache().remaining() == 0) {
                finish(r, FinishReason.CONTEXT, null);
            } else {
                r.setPending(token);
            }
        }
        active.removeIf(GenerationRequest::finished);
        return true;
    }

    /** The first active request that runs alone, or null. */
    @Nullable
    private GenerationRequest firstIsolated() {
        for (int i = 0; i < active.size(); i++) {
            if (active.get(i).isolated()) {
                return active.get(i);
            }
        }
        return null;
    }

    private SequenceStep nextStep(GenerationRequest r) {
        int index = steps.size();
        if (stepPool.size() <= index) {
            stepPool.add(new SequenceStep(r.cache()));
        }
        SequenceStep step = stepPool.get(index).reset(r.cache());
        steps.add(step);
        inStep.add(r);
        return step;
    }

    private void finish(GenerationRequest r, FinishReason reason, @Nullable String error) {
        r.finish();
        r.listener().onFinish(r, reason, error);
    }

    private void fail(GenerationRequest r, String error) {
        finish(r, FinishReason.ERROR, error);
    }
}
