package io.kvstream.local;

import io.kvstream.client.EvalEvents;
import io.kvstream.client.Percentiles;
import io.kvstream.client.ResponseStream;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.generate.ContinuousBatcher;
import io.kvstream.generate.Engine;
import io.kvstream.generate.FinishReason;
import io.kvstream.generate.GenerationRequest;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.TokenListener;
import io.kvstream.sampling.SamplingParams;
import io.kvstream.schema.ContextMessage;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.TokenDelta;
import io.kvstream.tokenizer.BpeTokenizer;
import io.kvstream.tokenizer.ChatMessage;
import io.kvstream.tokenizer.ChatTemplate;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeoutException;

/**
 * The pipeline's two headline measurements, against a running stack:
 *
 * <ul>
 *   <li>{@link #restoreVsPrefill}: a returning session's time to first token when its KV cache
 *       comes back from keyed state, against a stateless server's way, re-sending the whole
 *       history to a fresh session. Run it on a stack whose hot set holds nothing, so that every
 *       request of a session restores its cache from RocksDB.
 *   <li>{@link #throughput}: many sessions chatting at once (closed loop: a session sends its next
 *       turn when the last is answered), tokens/s and time to first token at each concurrency.
 * </ul>
 *
 * Times are end to end as a client sees them (Kafka both ways included); the pipeline's own time
 * to first token, from the {@link FinalResponse}, is printed beside them.
 */
public final class PipelineBench {

    /** Syllable words like the reference model's training chats. */
    private static final String[] WORDS = {
        "kopefu", "medela", "siha", "guni", "rocode", "nabo", "kohare", "lorola", "kaha", "nohufu",
        "suco", "kesa", "gatebi", "silite", "tikone", "tapusu", "supozo", "vulo", "zoha", "runuki"};

    private final KvstreamKafkaConfig config;
    private final Engine engine;
    private final ChatTemplate template;
    private final BpeTokenizer tokenizer;
    private final int[] chunkTokens;
    private final PrintStream out;
    private final Duration timeout = Duration.ofMinutes(10);

    /**
     * @param engine the pipeline's model, opened with the pipeline's threads: the one-shot
     *     prefill baseline runs on it while the pipeline idles
     * @param maxStepTokens, prefillChunk the pipeline's batching limits, which the baseline uses too
     */
    public PipelineBench(KvstreamKafkaConfig config, Engine engine, int maxStepTokens, int prefillChunk,
                         PrintStream out) {
        this.config = config;
        this.engine = engine;
        this.template = engine.chatTemplate();
        this.tokenizer = engine.tokenizer();
        this.chunkTokens = new int[] {maxStepTokens, prefillChunk};
        this.out = out;
    }

    // ------------------------------------------------------------------ (a) restore vs prefill

    /** Result of one history length; times in milliseconds, medians of the repeats. */
    public record RestoreResult(int historyTokens, double restoredMs, double restoredServerMs, int restoredCached,
                                double prefillMs, double prefillServerMs, double oneShotMs) {
        /** End to end as a client sees it: re-sending the history vs restoring. */
        public double ratio() {
            return prefillMs / restoredMs;
        }

        /** Inside the pipeline: the restored request's own ttft vs the bare engine prefilling it all at once. */
        public double computeRatio() {
            return oneShotMs / restoredServerMs;
        }
    }

    public List<RestoreResult> restoreVsPrefill(int[] historyTokens, int repeats) throws Exception {
        List<RestoreResult> results = new ArrayList<>();
        out.println("(a) returning session: KV restored from state vs the whole history prefilled again");
        out.printf("%8s %12s %14s %8s %14s %14s %12s %7s %9s%n", "history", "restored ms", "(pipeline ms)", "cached",
                "re-prefill ms", "(pipeline ms)", "one-shot ms", "ratio", "ratio(b)");
        try (SessionEventProducer producer = SessionEventProducer.create(config);
                ResponseStream responses = ResponseStream.fromNow(config)) {
            Waiter waiter = new Waiter(responses);
            for (int target : historyTokens) {
                List<ChatMessage> history = history(target, new Random(target));
                int tokens = tokens(history);
                String question = "what is my lucky number?";
                // Restored: the session holds the history; between requests its cache leaves memory.
                String session = "bench-restore-" + UUID.randomUUID().toString().substring(0, 8);
                SessionEvent last = null;
                for (ChatMessage m : history) {
                    last = send(producer, session, new ContextMessage(m.role(), m.content()));
                }
                waiter.awaitSettled(producer, session, last);
                double[] restored = new double[repeats];
                double[] restoredServer = new double[repeats];
                int cached = 0;
                for (int i = 0; i < repeats; i++) {
                    long t0 = System.nanoTime();
                    SessionEvent q = send(producer, session, EvalEvents.userTurn(question, 8));
                    Waiter.Answer a = waiter.await(q.getEventId());
                    restored[i] = (a.firstTokenNs - t0) / 1e6;
                    restoredServer[i] = a.result.getTimings().getTimeToFirstTokenMs();
                    cached = a.result.getUsage().getCachedTokens();
                }
                // Re-prefilled: a fresh session gets the same history, then the question.
                double[] prefill = new double[repeats];
                double[] prefillServer = new double[repeats];
                for (int i = 0; i < repeats; i++) {
                    String fresh = "bench-prefill-" + UUID.randomUUID().toString().substring(0, 8);
                    long t0 = System.nanoTime();
                    for (ChatMessage m : history) {
                        send(producer, fresh, new ContextMessage(m.role(), m.content()));
                    }
                    SessionEvent q = send(producer, fresh, EvalEvents.userTurn(question, 8));
                    Waiter.Answer a = waiter.await(q.getEventId());
                    prefill[i] = (a.firstTokenNs - t0) / 1e6;
                    prefillServer[i] = a.result.getTimings().getTimeToFirstTokenMs();
                }
                double[] oneShot = new double[repeats];
                for (int i = 0; i < repeats; i++) {
                    oneShot[i] = oneShotPrefillMs(history, question);
                }
                RestoreResult r = new RestoreResult(tokens, median(restored), median(restoredServer), cached,
                        median(prefill), median(prefillServer), median(oneShot));
                results.add(r);
                out.printf("%8d %12.0f %14.0f %8d %14.0f %14.0f %12.0f %6.1fx %8.1fx%n", r.historyTokens(),
                        r.restoredMs(), r.restoredServerMs(), r.restoredCached(), r.prefillMs(), r.prefillServerMs(),
                        r.oneShotMs(), r.ratio(), r.computeRatio());
            }
        }
        out.println("restored: the session's KV comes back from RocksDB state (hot set empty); re-prefill: a fresh"
                + " session gets the history as context events, then the question; one-shot: the bare engine"
                + " prefills history and question as one prompt, no Kafka or Flink (what a stateless server pays"
                + " at best). ratio: re-prefill / restored, end to end; ratio(b): one-shot / restored, pipeline-side.");
        return results;
    }

    /** Time to first token of the whole conversation as one prompt on the bare engine, pipeline chunking. */
    private double oneShotPrefillMs(List<ChatMessage> history, String question) {
        List<ChatMessage> all = new ArrayList<>(history);
        all.add(ChatMessage.user(question));
        Prompt prompt = new Prompt();
        engine.prompts(0f).appendText(prompt, template.render(all, true));
        ContinuousBatcher batcher = new ContinuousBatcher(engine.backend(), 1, chunkTokens[0], chunkTokens[1]);
        long[] first = new long[1];
        long t0 = System.nanoTime();
        batcher.submit(new GenerationRequest("one-shot", prompt, engine.newFullCache(), 1, engine.stopTokens(),
                SamplingParams.GREEDY, new TokenListener() {
                    @Override
                    public void onToken(GenerationRequest r, int token, int index) {
                        if (index == 0) {
                            first[0] = System.nanoTime();
                        }
                    }

                    @Override
                    public void onFinish(GenerationRequest r, FinishReason reason, String error) {}
                }));
        batcher.runToCompletion();
        return ((first[0] == 0 ? System.nanoTime() : first[0]) - t0) / 1e6;
    }

    /** A chat like the training ones, a fact first, about {@code target} tokens long as rendered. */
    List<ChatMessage> history(int target, Random r) {
        List<ChatMessage> messages = new ArrayList<>();
        messages.add(ChatMessage.user("my lucky number is 4711."));
        messages.add(ChatMessage.assistant("noted."));
        while (true) {
            List<ChatMessage> turn = fillerTurn(r);
            List<ChatMessage> longer = new ArrayList<>(messages);
            longer.addAll(turn);
            if (tokens(longer) > target) {
                return messages;
            }
            messages = longer;
        }
    }

    static List<ChatMessage> fillerTurn(Random r) {
        double k = r.nextDouble();
        if (k < 0.4) {
            String s = words(r, 2 + r.nextInt(4));
            return List.of(ChatMessage.user("repeat after me: " + s), ChatMessage.assistant(s));
        }
        if (k < 0.7) {
            int a = r.nextInt(10);
            int b = r.nextInt(10);
            return List.of(ChatMessage.user("what is " + a + " plus " + b + "?"),
                    ChatMessage.assistant(String.valueOf(a + b)));
        }
        return List.of(ChatMessage.user(words(r, 3 + r.nextInt(7)) + "."), ChatMessage.assistant("ok."));
    }

    private static String words(Random r, int n) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < n; i++) {
            s.append(i == 0 ? "" : " ").append(WORDS[r.nextInt(WORDS.length)]);
        }
        return s.toString();
    }

    int tokens(List<ChatMessage> messages) {
        return tokenizer.encode(template.render(messages, false)).length;
    }

    // ------------------------------------------------------------------ (b) throughput

    /** One concurrency level's figures. */
    public record ThroughputResult(int sessions, int requests, long generatedTokens, double seconds,
                                   Percentiles ttftMs, Percentiles serverTtftMs) {
        public double tokensPerSecond() {
            return generatedTokens / seconds;
        }
    }

    /**
     * @param turns requests per session at each level; the first level also warms up the JIT
     */
    public List<ThroughputResult> throughput(int[] concurrency, int turns, int maxNewTokens) throws Exception {
        List<ThroughputResult> results = new ArrayList<>();
        out.printf("(b) throughput: closed loop, %d turns per session, at most %d new tokens per turn%n",
                turns, maxNewTokens);
        out.printf("%9s %9s %10s %12s %12s %12s %16s%n", "sessions", "requests", "tokens", "tokens/s",
                "ttft p50 ms", "ttft p99 ms", "pipeline p50/p99");
        try (SessionEventProducer producer = SessionEventProducer.create(config);
                ResponseStream responses = ResponseStream.fromNow(config)) {
            Waiter waiter = new Waiter(responses);
            // Warm-up: compiled code, RocksDB and Kafka clients, outside the figures.
            closedLoop(producer, waiter, 4, 2, maxNewTokens, new Random(0));
            for (int c : concurrency) {
                ThroughputResult r = closedLoop(producer, waiter, c, turns, maxNewTokens, new Random(c));
                results.add(r);
                out.printf("%9d %9d %10d %12.1f %12.0f %12.0f %9.0f/%.0f%n", r.sessions(), r.requests(),
                        r.generatedTokens(), r.tokensPerSecond(), r.ttftMs().p50(), r.ttftMs().p99(),
                        r.serverTtftMs().p50(), r.serverTtftMs().p99());
            }
        }
        return results;
    }

    /**
     * A turn whose reply is as long as the model's replies get: "repeat after me" with 4 or 5 words
     * (it was trained on 2 to 5; given more it stops early), so about 5 tokens a reply.
     */
    private static Object repeatTurn(Random r, int maxNewTokens) {
        return EvalEvents.userTurn("repeat after me: " + words(r, 4 + r.nextInt(2)), maxNewTokens);
    }

    /** One closed-loop level, without warm-up or printing: {@code sessions} sessions of {@code turns} turns. */
    public ThroughputResult level(int sessions, int turns, int maxNewTokens) throws Exception {
        try (SessionEventProducer producer = SessionEventProducer.create(config);
                ResponseStream responses = ResponseStream.fromNow(config)) {
            return closedLoop(producer, new Waiter(responses), sessions, turns, maxNewTokens, new Random(sessions));
        }
    }

    private ThroughputResult closedLoop(SessionEventProducer producer, Waiter waiter, int sessions, int turns,
                                        int maxNewTokens, Random r) throws Exception {
        String run = UUID.randomUUID().toString().substring(0, 8);
        Map<String, Integer> left = new HashMap<>();
        Map<String, String> sessionOf = new HashMap<>();
        Map<String, Long> sentAt = new HashMap<>();
        List<Double> ttft = new ArrayList<>();
        List<Double> serverTtft = new ArrayList<>();
        long generated = 0;
        int requests = 0;
        long t0 = System.nanoTime();
        for (int s = 0; s < sessions; s++) {
            String session = "bench-tp-" + run + "-" + s;
            left.put(session, turns);
            SessionEvent e = send(producer, session, repeatTurn(r, maxNewTokens));
            sessionOf.put(e.getEventId(), session);
            sentAt.put(e.getEventId(), System.nanoTime());
        }
        producer.flush();
        while (!sessionOf.isEmpty()) {
            for (Waiter.Answer a : waiter.poll(sessionOf.keySet())) {
                String session = sessionOf.remove(a.eventId);
                long sent = sentAt.remove(a.eventId);
                requests++;
                generated += a.result.getUsage().getGeneratedTokens();
                ttft.add((a.firstTokenNs - sent) / 1e6);
                serverTtft.add((double) a.result.getTimings().getTimeToFirstTokenMs());
                int remaining = left.merge(session, -1, Integer::sum);
                if (remaining > 0) {
                    SessionEvent e = send(producer, session,
                            repeatTurn(r, maxNewTokens));
                    sessionOf.put(e.getEventId(), session);
                    sentAt.put(e.getEventId(), System.nanoTime());
                    producer.flush();
                }
            }
            if (System.nanoTime() - t0 > timeout.toNanos()) {
                throw new TimeoutException(sessionOf.size() + " requests unanswered after " + timeout);
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        return new ThroughputResult(sessions, requests, generated, seconds,
                new Percentiles(ttft.stream().mapToDouble(Double::doubleValue).toArray()),
                new Percentiles(serverTtft.stream().mapToDouble(Double::doubleValue).toArray()));
    }

    // ------------------------------------------------------------------ plumbing

    private static SessionEvent send(SessionEventProducer producer, String session, Object payload) {
        SessionEvent e = SessionEventProducer.newEvent(session, payload);
        producer.send(e);
        return e;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** Collects the answers of events from the shared response stream. */
    private final class Waiter {
        record Answer(String eventId, FinalResponse result, long firstTokenNs) {}

        private final ResponseStream responses;
        private final Map<String, Long> firstToken = new HashMap<>();
        private final Map<String, Answer> done = new HashMap<>();

        Waiter(ResponseStream responses) {
            this.responses = responses;
        }

        private void read(Duration wait) {
            for (ResponseEvent r : responses.poll(wait)) {
                Object p = r.getPayload();
                if (p instanceof TokenDelta) {
                    firstToken.putIfAbsent(r.getEventId(), System.nanoTime());
                } else if (p instanceof FinalResponse f) {
                    long first = firstToken.getOrDefault(r.getEventId(), System.nanoTime());
                    done.put(r.getEventId(), new Answer(r.getEventId(), f, first));
                    firstToken.remove(r.getEventId());
                } else if (p instanceof ErrorEvent e) {
                    throw new IllegalStateException("The pipeline failed event " + r.getEventId() + " of session "
                            + r.getSessionId() + ": " + e.getCode() + " " + e.getMessage());
                }
            }
        }

        Answer await(String eventId) throws TimeoutException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!done.containsKey(eventId)) {
                if (System.nanoTime() > deadline) {
                    throw new TimeoutException("no answer to " + eventId + " within " + timeout);
                }
                read(Duration.ofMillis(5));
            }
            return done.remove(eventId);
        }

        List<Answer> poll(java.util.Set<String> waitingFor) {
            read(Duration.ofMillis(5));
            List<Answer> out = new ArrayList<>();
            for (String id : new ArrayList<>(done.keySet())) {
                if (waitingFor.contains(id)) {
                    out.add(done.remove(id));
                }
            }
            return out;
        }

        /**
         * Context events get no answer: a probe turn after them shows they are all in (the
         * session's events are served in order), and its answer is thrown away.
         */
        void awaitSettled(SessionEventProducer producer, String session, SessionEvent last) throws TimeoutException {
            SessionEvent probe = send(producer, session, EvalEvents.userTurn("what is 1 plus 1?", 4));
            await(probe.getEventId());
        }
    }
}
