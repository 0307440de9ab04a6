package io.kvstream.eval;

import io.kvstream.generate.ContinuousBatcher;
import io.kvstream.generate.Engine;
import io.kvstream.generate.FinishReason;
import io.kvstream.generate.GenerationRequest;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.PromptBuilder;
import io.kvstream.generate.TokenListener;
import io.kvstream.generate.Transcript;
import io.kvstream.kv.CompressedKvCache;
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
 * Runs the eval format offline. Every sample is its own session, fed event by event as the
 * pipeline receives it ({@link EvalSample#steps()}): each message and frame is one request that
 * extends the session's cache, rendered with the model's chat template; the last user turn is
 * answered with greedy decoding (at most {@value #MAX_NEW_TOKENS} new tokens, until the
 * end-of-turn token), and the stripped reply must equal the expected answer. Sessions run
 * batched; a session's own events run in order.
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
     * @param caches makes each session's cache (this is where the {@code --kv} spec applies)
     * @param dropThreshold video patch dropping threshold; 0 keeps every patch
     * @param concurrency sessions decoded together in one batch
     * @param progress where a progress line goes now and then, or null for none
     */
    public EvalRunner(
            Engine engine, Supplier<KvCache> caches, float dropThreshold, int concurrency,
            @Nullable PrintStream progress) {
        if (engine.chatTemplate() == null) {
            throw new IllegalArgumentException("eval renders sessions with the model's chat template, and this model has none");
        }
        this.engine = engine;
        this.caches = caches;
        this.dropThreshold = dropThreshold;
        this.concurrency = concurrency;
        this.progress = progress;
    }

    public EvalResult run(List<EvalSample> samples) {
        long start = System.nanoTime();
        PromptBuilder builder = engine.prompts(dropThreshold);
        // A whole event in one step: eviction then happens between events, as in a live session,
        // not at arbitrary chunk boundaries inside one.
        int context = engine.config().contextLength();
        ContinuousBatcher batcher = new ContinuousBatcher(engine.backend(), concurrency, context, context);
        List<Session> sessions = new ArrayList<>(samples.size());
        for (EvalSample sample : samples) {
            Session session = new Session(sample, builder, batcher);
            sessions.add(session);
            session.next();
        }
        long lastReport = System.nanoTime();
        while (batcher.busy()) {
            batcher.step();
            if (progress != null && System.nanoTime() - lastReport > 10_000_000_000L) {
                lastReport = System.nanoTime();
                int done = 0;
                for (Session s : sessions) {
                    done += s.answer != null ? 1 : 0;
                }
                progress.printf(
                        "eval: %d/%d samples, %.0f s, %.0f tokens/s%n",
                        done, samples.size(), (lastReport - start) / 1e9,
                        batcher.tokensRun() / ((lastReport - start) / 1e9));
            }
        }
        List<EvalResult.Answer> answers = new ArrayList<>(sessions.size());
        long promptTokens = 0;
        long patches = 0;
        long dropped = 0;
        long kvBytes = 0;
        long fp16Bytes = 0;
        boolean fp16Known = true;
        List<KvCache> caches = new ArrayList<>(sessions.size());
        for (Session s : sessions) {
            caches.add(s.cache);
            answers.add(s.answer != null ? s.answer : new EvalResult.Answer(s.sample, null, "did not finish"));
            promptTokens += s.promptTokens;
            patches += s.patches;
            dropped += s.dropped;
            kvBytes += s.cache.storedBytes();
            // Only a cache that holds every token it was fed has an fp16 twin of known size.
            if (s.cache instanceof CompressedKvCache c && !c.spec().evicts()) {
                fp16Bytes += Fp16Basis.storedBytes(c);
            } else {
                fp16Known = false;
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        return new EvalResult(
                answers, promptTokens, patches, dropped,
                promptTokens == 0 ? 0 : (double) kvBytes / promptTokens,
                promptTokens == 0 || !fp16Known ? Double.NaN : (double) fp16Bytes / promptTokens, seconds,
                CacheFigures.of(caches));
    }

    /** One sample's session: its steps fed one request at a time on its own cache. */
    private final class Session implements TokenListener {
        final EvalSample sample;
        final PromptBuilder builder;
        final ContinuousBatcher batcher;
        final KvCache cache = caches.get();
        final Transcript transcript = new Transcript(engine.chatTemplate());
        final List<EvalSample.Step> steps;
        int next;
        @Nullable byte[] previousFrame;
        long promptTokens;
        long patches;
        long dropped;
        @Nullable EvalResult.Answer answer;

        Session(EvalSample sample, PromptBuilder builder, ContinuousBatcher batcher) {
            this.sample = sample;
            this.builder = builder;
            this.batcher = batcher;
            this.steps = sample.steps();
        }

        /** Submits the next step, or nothing when the answer is in. */
        void next() {
            EvalSample.Step step = steps.get(next++);
            Prompt prompt = new Prompt();
            int maxNew = 0;
            if (step instanceof EvalSample.Frame frame) {
                builder.appendText(prompt, transcript.beforeFrame());
                dropped += builder.appendFrame(prompt, frame.index(), frame.rgb(), previousFrame);
                patches += engine.projector().config().patchesPerFrame();
                previousFrame = frame.rgb();
            } else {
                EvalSample.Message m = (EvalSample.Message) step;
                if (m.answer()) {
                    builder.appendText(prompt, transcript.turn(m.message()));
                    maxNew = MAX_NEW_TOKENS;
                } else {
                    builder.appendText(prompt, transcript.context(m.message()));
                }
            }
            promptTokens += prompt.length();
            batcher.submit(new GenerationRequest(
                    "sample-" + sample.index() + "-" + next, prompt, cache, maxNew,
                    engine.stopTokens(), SamplingParams.GREEDY, this));
        }

        @Override
        public void onToken(GenerationRequest r, int token, int index) {}

        @Override
        public void onFinish(GenerationRequest r, FinishReason reason, @Nullable String error) {
            if (error != null) {
                LOG.warn("sample {} failed: {}", sample.index(), error);
                answer = new EvalResult.Answer(sample, null, error);
            } else if (r.maxNewTokens() > 0) {
                answer = new EvalResult.Answer(sample, engine.tokenizer().decode(r.generated()), null);
            } else {
                next();
            }
        }
    }
}
