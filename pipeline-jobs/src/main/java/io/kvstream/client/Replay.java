package io.kvstream.client;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.eval.EvalResult;
import io.kvstream.eval.EvalSample;
import io.kvstream.schema.EndOfSession;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.TokenDelta;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Replays eval samples through the pipeline: each sample is its own session (history as context,
 * its last user turn as the request, see {@link EvalEvents}), a window of samples is in flight at
 * once, and the {@link FinalResponse}s become an {@link EvalResult} that reads like offline eval's.
 */
public final class Replay {

    private static final Logger LOG = LoggerFactory.getLogger(Replay.class);

    /**
     * @param sessions samples in flight at once
     * @param timeout how long a sample may wait for its answer
     * @param endSessions send {@code EndOfSession} once answered, so the pipeline drops the state
     */
    public record Options(int sessions, int maxNewTokens, Duration timeout, boolean endSessions,
                          @Nullable PrintStream progress) {
        public Options {
            if (sessions < 1) {
                throw new IllegalArgumentException("sessions must be at least 1, got " + sessions);
            }
        }
    }

    /**
     * What a replay measured besides the answers.
     *
     * @param ttftMs per answered sample, from sending its request to its first token, as the client saw it
     * @param serverTtftMs per answered sample, the pipeline's own time to first token (prefill included)
     */
    public record Outcome(EvalResult eval, Percentiles ttftMs, Percentiles serverTtftMs,
                          long generatedTokens, long cachedTokens, double seconds) {

        public double generatedTokensPerSecond() {
            return generatedTokens / seconds;
        }

        public double samplesPerSecond() {
            return eval.answers().size() / seconds;
        }
    }

    private final KvstreamKafkaConfig config;
    private final Options options;

    public Replay(KvstreamKafkaConfig config, Options options) {
        this.config = config;
        this.options = options;
    }

    /** One sample on its way. */
    private static final class Flight {
        final int slot;
        final EvalSample sample;
        final String sessionId;
        String requestId;
        long sentNs;
        long firstTokenNs;
        @Nullable FinalResponse result;
        @Nullable String error;

        Flight(int slot, EvalSample sample, String sessionId) {
            this.slot = slot;
            this.sample = sample;
            this.sessionId = sessionId;
        }
    }

    public Outcome run(List<EvalSample> samples) throws InterruptedException {
        // A run id keeps sessions of an earlier replay on the same pipeline from mixing in.
        String run = UUID.randomUUID().toString().substring(0, 8);
        EvalResult.Answer[] answers = new EvalResult.Answer[samples.size()];
        List<Double> ttft = new ArrayList<>();
        List<Double> serverTtft = new ArrayList<>();
        Map<String, Flight> byEvent = new HashMap<>();
        List<Flight> inFlight = new ArrayList<>();
        long promptTokens = 0;
        long cachedTokens = 0;
        long generated = 0;
        long start = System.nanoTime();
        long lastReport = start;
        int next = 0;
        int done = 0;
        try (ResponseStream responses = ResponseStream.fromNow(config);
                SessionEventProducer producer = SessionEventProducer.create(config)) {
            while (done < samples.size()) {
                while (inFlight.size() < options.sessions() && next < samples.size()) {
                    EvalSample sample = samples.get(next);
                    Flight f = new Flight(next, sample, "replay-" + run + "-" + sample.index());
                    next++;
                    try {
                        for (Object payload : EvalEvents.payloads(sample, options.maxNewTokens(), 1000)) {
                            SessionEvent event = SessionEventProducer.newEvent(f.sessionId, payload);
                            producer.send(event);
                            byEvent.put(event.getEventId(), f);
                            f.requestId = event.getEventId();
                        }
                    } catch (IllegalArgumentException e) {
                        answers[f.slot] = new EvalResult.Answer(sample, null, e.getMessage());
                        done++;
                        continue;
                    }
                    producer.flush();
                    f.sentNs = System.nanoTime();
                    inFlight.add(f);
                }
                for (ResponseEvent r : responses.poll(Duration.ofMillis(20))) {
                    Flight f = byEvent.get(r.getEventId());
                    if (f == null || f.result != null || f.error != null) {
                        continue;
                    }
                    Object p = r.getPayload();
                    if (p instanceof TokenDelta && f.firstTokenNs == 0 && r.getEventId().equals(f.requestId)) {
                        f.firstTokenNs = System.nanoTime();
                    } else if (p instanceof FinalResponse fr && r.getEventId().equals(f.requestId)) {
                        f.result = fr;
                    } else if (p instanceof ErrorEvent e) {
                        f.error = e.getCode() + ": " + e.getMessage();
                    }
                }
                long now = System.nanoTime();
                for (int i = inFlight.size() - 1; i >= 0; i--) {
                    Flight f = inFlight.get(i);
                    if (f.result == null && f.error == null && now - f.sentNs > options.timeout().toNanos()) {
                        f.error = "no answer within " + options.timeout();
                    }
                    if (f.result == null && f.error == null) {
                        continue;
                    }
                    inFlight.remove(i);
                    done++;
                    if (f.error != null) {
                        LOG.warn("sample {} failed: {}", f.sample.index(), f.error);
                        answers[f.slot] = new EvalResult.Answer(f.sample, null, f.error);
                    } else {
                        FinalResponse fr = f.result;
                        answers[f.slot] = new EvalResult.Answer(f.sample, fr.getText(), null);
                        promptTokens += fr.getUsage().getPromptTokens() + fr.getUsage().getCachedTokens();
                        cachedTokens += fr.getUsage().getCachedTokens();
                        generated += fr.getUsage().getGeneratedTokens();
                        serverTtft.add((double) fr.getTimings().getTimeToFirstTokenMs());
                        if (f.firstTokenNs != 0) {
                            ttft.add((f.firstTokenNs - f.sentNs) / 1e6);
                        }
                    }
                    if (options.endSessions()) {
                        producer.send(SessionEventProducer.newEvent(
                                f.sessionId, EndOfSession.newBuilder().setReason("replay done").build()));
                    }
                }
                if (options.progress() != null && now - lastReport > 10_000_000_000L) {
                    lastReport = now;
                    options.progress().printf("replay: %d/%d samples, %.0f s, %.1f generated tokens/s%n",
                            done, samples.size(), (now - start) / 1e9, generated / ((now - start) / 1e9));
                }
                if (Thread.interrupted()) {
                    throw new InterruptedException();
                }
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        // The pipeline reports neither its caches' sizes nor its patch dropping: NaN and 0 leave them out.
        EvalResult eval = new EvalResult(List.of(answers), promptTokens, 0, 0, Double.NaN, Double.NaN, seconds);
        return new Outcome(eval, new Percentiles(toArray(ttft)), new Percentiles(toArray(serverTtft)),
                generated, cachedTokens, seconds);
    }

    private static double[] toArray(List<Double> values) {
        double[] out = new double[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }
}
