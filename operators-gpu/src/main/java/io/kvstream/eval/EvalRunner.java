package io.kvstream.eval;

import io.kvstream.generate.ContinuousBatcher;
import io.kvstream.generate.Engine;
import io.kvstream.generate.FinishReason;
import io.kvstream.generate.GenerationRequest;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.PromptBuilder;
import io.kvstream.generate.TokenListener;
import io.kvstream.kv.KvCache;
import io.kvstream.sampling.SamplingParams;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Runs the eval format offline: every sample is its own sequence, its segments are the prompt,
 * and greedy decoding (at most {@value #MAX_NEW_TOKENS} new tokens, until the end-of-turn token)
 * gives the answer, which must equal the expected one once stripped. Samples run batched.
 */
public final class EvalRunner {

    public static final int MAX_NEW_TOKENS = 12;
    private static final Logger LOG = LoggerFactory.getLogger(EvalRunner.class);

    private final Engine engine;
    private final Supplier<KvCache> caches;
    private final float dropThreshold;
    private final int concurrency;
    @Nullable private final PrintStream progress;

    /**
     * @param caches makes each sample's cache (this is where the {@code --kv} spec applies)
     * @param dropThreshold video patch dropping threshold; 0 keeps every patch
     * @param concurrency samples decoded together in one batch
     * @param progress where a progress line goes now and then, or null for none
     */
    public EvalRunner(
            Engine engine, Supplier<KvCache> caches, float dropThreshold, int concurrency,
            @Nullable PrintStream progress) {
        this.engine = engine;
        this.caches = caches;
        this.dropThreshold = dropThreshold;
        this.concurrency = concurrency;
        this.progress = progress;
    }

    public EvalResult run(List<EvalSample> samples) {
        long start = System.nanoTime();
        PromptBuilder builder = engine.prompts(dropThreshold);
        // Roughly one prefill chunk per sequence in a step, so long prompts do not starve decode.
        ContinuousBatcher batcher = new ContinuousBatcher(engine.backend(), concurrency, 2048, 512);
        List<EvalResult.Answer> answers = new ArrayList<>(samples.size());
        long[] promptTokens = new long[1];
        long[] patches = new long[2];
        long[] kvBytes = new long[1];
        int[] done = new int[1];
        for (EvalSample sample : samples) {
            Prompt prompt = new Prompt();
            byte[] previous = null;
            for (EvalSample.Segment segment : sample.segments()) {
                if (segment.isFrame()) {
                    patches[1] += builder.appendFrame(prompt, segment.frame(), segment.rgb(), previous);
                    patches[0] += engine.projector().config().patchesPerFrame();
                    previous = segment.rgb();
                } else {
                    builder.appendText(prompt, segment.text());
                }
            }
            promptTokens[0] += prompt.length();
            KvCache cache = caches.get();
            EvalResult.Answer slot = new EvalResult.Answer(sample, null, null);
            answers.add(slot);
            int index = answers.size() - 1;
            batcher.submit(new GenerationRequest(
                    "sample-" + sample.index(), prompt, cache, MAX_NEW_TOKENS, engine.stopTokens(),
                    SamplingParams.GREEDY,
                    new TokenListener() {
                        @Override
                        public void onToken(GenerationRequest r, int token, int i) {}

                        @Override
                        public void onFinish(GenerationRequest r, FinishReason reason, @Nullable String error) {
                            String output = engine.tokenizer().decode(r.generated());
                            answers.set(index, new EvalResult.Answer(sample, output, error));
                            kvBytes[0] += r.cache().storedBytes();
                            done[0]++;
                            if (error != null) {
                                LOG.warn("sample {} failed: {}", sample.index(), error);
                            }
                        }
                    }));
        }
        long lastReport = System.nanoTime();
        while (batcher.busy()) {
            batcher.step();
            if (progress != null && System.nanoTime() - lastReport > 10_000_000_000L) {
                lastReport = System.nanoTime();
                progress.printf(
                        "eval: %d/%d samples, %.0f s, %.0f tokens/s%n",
                        done[0], samples.size(), (lastReport - start) / 1e9,
                        batcher.tokensRun() / ((lastReport - start) / 1e9));
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        return new EvalResult(
                answers, promptTokens[0], patches[0], patches[1],
                promptTokens[0] == 0 ? 0 : (double) kvBytes[0] / promptTokens[0], seconds);
    }
}
