package io.kvstream.pipeline.operator;

import static org.apache.flink.util.Preconditions.checkState;

import io.kvstream.kv.CacheSpec;
import io.kvstream.generate.ContinuousBatcher;
import io.kvstream.generate.Engine;
import io.kvstream.generate.FinishReason;
import io.kvstream.generate.GenerationRequest;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.PromptBuilder;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.runtime.ForwardBackend;
import io.kvstream.pipeline.model.ModelFiles;
import io.kvstream.pipeline.model.SlotThreads;
import io.kvstream.schema.CloseReason;
import io.kvstream.schema.EndOfSession;
import io.kvstream.schema.ErrorCode;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionClosed;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.TokenDelta;
import io.kvstream.tokenizer.ChatTemplate;
import io.kvstream.tokenizer.ChatTemplateException;

import org.apache.flink.annotation.VisibleForTesting;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Serves the sessions of one subtask: events of a session strictly in order, one request in
 * flight per session, the requests of all sessions batched into the steps of one {@link
 * ContinuousBatcher}. This class holds the request flow; its parts are each a class of their own:
 * <ul>
 *   <li>{@link StepScheduler}: steps as mails of the task's mailbox, so input, timers and
 *       checkpoint barriers interleave with generation;
 *   <li>{@link SessionStore}: every piece of a session's keyed state, and what a turn writes;
 *   <li>{@link SessionLoader}: a session's cache from the hot set or its stored blocks, never
 *       from blocks another model or spec wrote;
 *   <li>{@link EventPrompts}: what an event feeds, through the chat-delta {@code Transcript}
 *       that offline eval uses too, and the validation of events;
 *   <li>{@link ResponseWriter}: deltas, final responses, errors and session closings.
 * </ul>
 *
 * <p><b>Backpressure.</b> When {@link PipelineConfig#maxInFlight()} requests are generating,
 * taking an event that would start another yields to the mailbox until one finishes. After a
 * restore, sessions with pending events resume within the same limit; those whose head event had
 * started are suspects of having taken the task down and run one at a time, on their own.
 *
 * <p><b>Checkpoints</b> never wait for generation. A request stays pending until it finishes,
 * and only then are its KV blocks, history and chat written; so a snapshot holds every session
 * as of its last finished request plus the requests not finished yet. After a restore {@link
 * #open()} resubmits them, and a request runs again from its start: seeded sampling and
 * batch-independent steps make it produce the same tokens. Its final response is emitted once;
 * token deltas streamed before the checkpoint are emitted again with the same sequence numbers,
 * which readers use to drop duplicates. Finishing the in-flight work before the barrier instead
 * would hold every checkpoint for as long as the longest reply.
 *
 * <p><b>Failures</b> of one request end that request only (see {@link #complete}); a step that
 * fails is retried request by request, and starts are counted in state so a request that takes
 * the task down is skipped after its attempts.
 */
public final class SessionInferenceOperator extends AbstractStreamOperator<ResponseEvent>
        implements OneInputStreamOperator<SessionEvent, ResponseEvent>, SessionRequest.Callbacks,
                Triggerable<String, VoidNamespace> {

    private static final long serialVersionUID = 1L;

    private static final Logger LOG = LoggerFactory.getLogger(SessionInferenceOperator.class);

    private static final int[] NO_TOKENS = new int[0];

    /** Wraps the forward backend: tests inject failures with it. */
    @VisibleForTesting
    static volatile UnaryOperator<ForwardBackend> backendDecorator = UnaryOperator.identity();

    /** Runs at the start of each snapshot with its checkpoint id: tests fail a checkpoint with it. */
    @VisibleForTesting
    static volatile java.util.function.LongConsumer snapshotHook = id -> {};

    private final PipelineConfig config;
    private final transient MailboxExecutor mailbox;

    private transient Engine engine;
    private transient ChatTemplate template;
    private transient PromptBuilder prompts;
    private transient EventPrompts eventPrompts;
    private transient SessionLoader loader;
    private transient CacheSpec cacheSpec;
    private transient ContinuousBatcher batcher;
    private transient int[] stopTokens;
    private transient HotSessions hot;
    private transient InferenceMetrics metrics;
    private transient ResponseWriter responses;

    private transient SessionStore store;
    /** Sessions whose head event runs in steps of its own: a step it shared failed. */
    private transient Set<String> isolating;
    private transient InternalTimerService<VoidNamespace> idleTimers;

    /** The request in flight per session. */
    private transient Map<String, SessionRequest> inFlight;
    /** Requests finished during a step or a submission, handled after it returns. */
    private transient ArrayDeque<SessionRequest> finished;
    /**
     * Sessions restored with events pending that have not started yet: they start as requests
     * finish, so a restore does not put every session in flight (and in memory) at once.
     */
    private transient ArrayDeque<String> resuming;
    /**
     * Sessions restored with a head event that had started before: it may be what took the task
     * down. They run one at a time, each in steps of its own, so that a request which crashes the
     * task again uses up its own attempts and no one else's.
     */
    private transient LinkedHashSet<String> suspects;
    @Nullable private transient String suspectRunning;
    /** The most requests in flight at once since open, for tests. */
    private transient int mostInFlight;
    /** Arrival times of events waiting behind another request of their session. */
    private transient Map<String, Long> arrivals;
    private transient boolean draining;
    private transient StepScheduler steps;

    public SessionInferenceOperator(StreamOperatorParameters<ResponseEvent> parameters, PipelineConfig config) {
        super(parameters);
        this.config = config;
        this.mailbox = parameters.getMailboxExecutor();
    }

    // ------------------------------------------------------------------ lifecycle

    @Override
    public void open() throws Exception {
        super.open();
        cacheSpec = config.cacheSpec();
        int threads = SlotThreads.resolve(
                config.threads(),
                getContainingTask().getEnvironment().getTaskManagerInfo().getConfiguration());
        engine = Engine.open(
                ModelFiles.localize(config.modelPath()),
                config.mmprojPath() != null ? ModelFiles.localize(config.mmprojPath()) : null,
                config.tokenizerPath() != null ? ModelFiles.localize(config.tokenizerPath()) : null,
                config.parsedDevice(),
                threads);
        LOG.info("Serving {} on {} with {} threads, kv {}",
                config.modelPath(), engine.backend().getClass().getSimpleName(), threads, cacheSpec);
        template = engine.chatTemplate();
        checkState(template != null, "The model %s has no chat template", config.modelPath());
        prompts = engine.prompts(cacheSpec.dropThreshold());
        eventPrompts = new EventPrompts(
                template, prompts, engine.projector() != null ? engine.projector().config() : null,
                engine.config().contextLength());
        stopTokens = engine.stopTokens();
        batcher = new ContinuousBatcher(
                backendDecorator.apply(engine.backend()), config.maxSequences(), config.maxStepTokens(),
                config.prefillChunk());
        hot = new HotSessions(config.hotSetBytes());
        inFlight = new HashMap<>();
        finished = new ArrayDeque<>();
        arrivals = new HashMap<>();
        resuming = new ArrayDeque<>();
        suspects = new LinkedHashSet<>();
        steps = new StepScheduler(
                mailbox, getProcessingTimeService(), batcher, config.maxWait(), config.maxSequences(),
                config.maxStepTokens(), () -> inFlight.size(), this::runStep);

        store = new SessionStore(getRuntimeContext(), config.recentEventIds());
        isolating = new HashSet<>();
        idleTimers = getInternalTimerService("idle-sessions", VoidNamespaceSerializer.INSTANCE, this);

        metrics = new InferenceMetrics(getMetricGroup(), hot::size, hot::bytes);
        loader = new SessionLoader(engine, cacheSpec.kv(), prompts, hot, store, metrics);
        responses = new ResponseWriter(output, metrics);
        resumePending();
    }

    /**
     * After a restore: every session that has events left resumes, within the in-flight limit;
     * the rest start as requests finish ({@link #resumeWaiting}).
     */
    private void resumePending() throws Exception {
        List<String> sessions = new ArrayList<>();
        this.<String>getKeyedStateBackend().applyToAllKeys(
                VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE, store.pendingDescriptor(),
                (key, state) -> {
                    if (state.get().iterator().hasNext()) {
                        sessions.add(key);
                    }
                });
        if (!sessions.isEmpty()) {
            LOG.info("Resuming {} sessions with events pending from the restored state", sessions.size());
        }
        for (String session : sessions) {
            setCurrentKey(session);
            if (store.attempts() > 0) {
                suspects.add(session);
            } else {
                resuming.add(session);
            }
        }
        resumeWaiting();
    }

    /** Starts restored sessions while there is room in flight, suspects one at a time. */
    private void resumeWaiting() throws Exception {
        if (suspectRunning == null && !suspects.isEmpty() && inFlight.size() < config.maxInFlight()) {
            String session = suspects.iterator().next();
            suspects.remove(session);
            setCurrentKey(session);
            isolating.add(session);
            startNext(session);
            suspectRunning = inFlight.containsKey(session) ? session : null;
        }
        while (inFlight.size() < config.maxInFlight() && !resuming.isEmpty()) {
            String session = resuming.poll();
            setCurrentKey(session);
            startNext(session);
        }
    }

    @Override
    public void snapshotState(org.apache.flink.runtime.state.StateSnapshotContext context) throws Exception {
        snapshotHook.accept(context.getCheckpointId());
        super.snapshotState(context);
    }

    @Override
    public void finish() throws Exception {
        // End of input: nothing else will arrive, so serve everything that is left.
        while (batcher.busy()) {
            runStep();
        }
        super.finish();
    }

    @Override
    public void close() throws Exception {
        if (hot != null) {
            hot.clear();
        }
        if (engine != null) {
            engine.close();
        }
        super.close();
    }

    // ------------------------------------------------------------------ input

    @Override
    public void processElement(StreamRecord<SessionEvent> element) throws Exception {
        SessionEvent event = element.getValue();
        String session = (String) getCurrentKey();
        if (!store.remember(event.getEventId())) {
            metrics.duplicates.inc();
            LOG.debug("Dropping duplicate event {} of session {}", event.getEventId(), session);
            return;
        }
        store.addPending(event);
        arrivals.put(event.getEventId(), System.nanoTime());
        touch();
        if (inFlight.containsKey(session) || suspects.contains(session)) {
            return;
        }
        if (inFlight.size() >= config.maxInFlight()) {
            // Backpressure: the input waits while the mailbox runs steps, timers and checkpoint
            // mails, until a request finishes (as AsyncWaitOperator waits for a free slot).
            while (inFlight.size() >= config.maxInFlight()) {
                steps.startNow();
                mailbox.yield();
            }
            setCurrentKey(session);
        }
        startNext(session);
    }

    // ------------------------------------------------------------------ idle sessions

    /** Moves the current session's idle timer to a full timeout from now. */
    private void touch() throws Exception {
        long timeout = config.idleTimeout().toMillis();
        if (timeout == 0) {
            return;
        }
        Long previous = store.idleDeadline();
        if (previous != null) {
            idleTimers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, previous);
        }
        long deadline = getProcessingTimeService().getCurrentProcessingTime() + timeout;
        idleTimers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, deadline);
        store.idleDeadline(deadline);
    }

    @Override
    public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
        String session = timer.getKey();
        setCurrentKey(session);
        store.clearIdleDeadline();
        if (inFlight.containsKey(session) || store.hasPending()) {
            // Still being served (or waiting to resume after a restore): not idle.
            touch();
            return;
        }
        String lastEventId = store.lastEventId();
        long idleMs = config.idleTimeout().toMillis();
        endSession(session);
        metrics.expiredSessions.inc();
        LOG.debug("Session {} closed after {} ms without an event", session, idleMs);
        responses.emit(lastEventId, session, new SessionClosed(CloseReason.IDLE, idleMs));
    }

    @Override
    public void onEventTime(InternalTimer<String, VoidNamespace> timer) {
        // Sessions expire on processing time only.
    }

    // ------------------------------------------------------------------ requests

    /** Starts the session's next pending event, if any; the current key must be the session. */
    private void startNext(String session) throws Exception {
        while (!inFlight.containsKey(session)) {
            SessionEvent head = store.head();
            if (head == null) {
                return;
            }
            Long arrived = arrivals.remove(head.getEventId());
            int tries = store.attempts();
            if (tries >= config.maxAttempts()) {
                // It ran this often and never finished: it took the task down each time.
                metrics.poisonRequests.inc();
                responses.error(head, ErrorCode.INTERNAL, String.format(
                        "Serving this event failed %d times (the task failed or its steps did); skipped", tries));
                removeHead();
                continue;
            }
            SessionRequest request = prepare(session, head, arrived != null ? arrived : System.nanoTime());
            if (request == null) {
                removeHead();
                continue;
            }
            store.countAttempt();
            int maxNew = request.kind == SessionRequest.Kind.REPLY ? eventPrompts.maxNewTokens(head) : 0;
            GenerationRequest generation = new GenerationRequest(
                    head.getEventId(), request.prompt, request.session.cache, maxNew, stopTokens,
                    EventPrompts.sampling(head), request);
            if (isolating.contains(session)) {
                generation.isolate();
            }
            request.generation = generation;
            inFlight.put(session, request);
            mostInFlight = Math.max(mostInFlight, inFlight.size());
            steps.submitted(request.prompt.length());
            batcher.submit(generation);
            drainFinished();
            steps.schedule();
        }
    }

    /**
     * Builds the request for an event, or handles it at once (end of session, invalid event:
     * returns null).
     */
    @Nullable
    private SessionRequest prepare(String session, SessionEvent event, long arrivalNanos) throws Exception {
        Object payload = event.getPayload();
        if (payload instanceof EndOfSession) {
            endSession(session);
            responses.emit(event, new SessionClosed(CloseReason.ENDED, 0L));
            return null;
        }
        try {
            HotSession s = loader.load(session);
            if (s.lost != null) {
                responses.error(event, ErrorCode.INTERNAL, s.lost);
                s.lost = null;
                return null;
            }
            ChatState held = store.chat();
            if (held == null) {
                held = eventPrompts.newSession();
            }
            Prompt prompt = new Prompt();
            int cached = s.cache.tokens();
            if (s.recompute != null) {
                prompt.add(s.recompute);
                cached = 0;
            }
            prompt.add(held.unfedTokens());
            EventPrompts.Plan plan = eventPrompts.plan(event, held, store.lastFrame(), prompt);
            if (prompt.length() > s.cache.remaining()) {
                responses.error(event, ErrorCode.CONTEXT_OVERFLOW, String.format(
                        "The event adds %d tokens; the session holds %d and has room for %d more (context %d)",
                        prompt.length(), s.cache.tokens(), s.cache.remaining(), engine.config().contextLength()));
                return null;
            }
            return new SessionRequest(
                    event, s, plan.kind(), prompt, plan.chatAfter(), held.messages().size(), plan.frame(), cached,
                    arrivalNanos, System.nanoTime(), engine.tokenizer().newStreamingDecoder(), this);
        } catch (IllegalArgumentException | ChatTemplateException e) {
            responses.error(event, ErrorCode.INVALID_REQUEST, e.getMessage());
            return null;
        } catch (RuntimeException e) {
            // A fault of ours, not of the event's: this event fails, the session and the others go on.
            LOG.error("Event {} of session {}: preparing it failed", event.getEventId(), session, e);
            hot.remove(session);
            responses.error(event, ErrorCode.INTERNAL, "Preparing this event failed: " + e);
            return null;
        }
    }

    /** Frees everything the session holds, in memory and in state. */
    private void endSession(String session) throws Exception {
        hot.remove(session);
        Long deadline = store.idleDeadline();
        if (deadline != null) {
            idleTimers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, deadline);
        }
        store.end();
        LOG.debug("Session {} ended", session);
    }

    private void removeHead() throws Exception {
        isolating.remove((String) getCurrentKey());
        store.removeHead();
    }

    // ------------------------------------------------------------------ steps

    private void runStep() throws Exception {
        int sequences = Math.min(inFlight.size(), config.maxSequences());
        long tokens = batcher.tokensRun();
        if (batcher.step()) {
            metrics.steps.inc();
            metrics.batchSequences.update(sequences);
            metrics.batchTokens.update(batcher.tokensRun() - tokens);
        }
        drainFinished();
    }

    // ------------------------------------------------------------------ results

    @Override
    public void onToken(SessionRequest request, int token, int index) {
        if (index == 0) {
            metrics.timeToFirstTokenMs.update((request.firstTokenNanos - request.arrivalNanos) / 1_000_000);
        }
        metrics.generatedTokens.inc();
        String text = request.decoder.feed(token);
        responses.emit(request.event, new TokenDelta(request.deltas++, text, List.of(token)));
    }

    @Override
    public void onFinished(SessionRequest request) {
        finished.add(request);
    }

    private void drainFinished() throws Exception {
        if (draining) {
            return;
        }
        draining = true;
        try {
            SessionRequest r;
            while ((r = finished.poll()) != null) {
                complete(r);
            }
        } finally {
            draining = false;
        }
    }

    /** Stores what a finished request changed, answers it, and starts the session's next event. */
    private void complete(SessionRequest r) throws Exception {
        String session = r.sessionId();
        setCurrentKey(session);
        inFlight.remove(session);
        if (r.reason == FinishReason.STEP_FAILED || r.reason == FinishReason.ERROR) {
            // Its cache may hold part of what it fed: the session goes back to what it stored.
            hot.remove(session);
            if (retried(r)) {
                resumeWaiting();
                return;
            }
            responses.error(r.event, ErrorCode.INTERNAL, r.error != null ? r.error : "request failed");
        } else {
            try {
                finished(r);
            } catch (RuntimeException e) {
                LOG.error("Event {} of session {}: storing or answering it failed", r.event.getEventId(), session, e);
                // What was stored of it is checked at the session's next restore.
                hot.remove(session);
                responses.error(r.event, ErrorCode.INTERNAL, "Storing or answering this event failed: " + e);
            }
        }
        if (session.equals(suspectRunning)) {
            suspectRunning = null;
        }
        removeHead();
        startNext(session);
        resumeWaiting();
        hot.evict(inFlight.keySet());
    }

    /**
     * Runs a request again whose shared step failed, in steps of its own, so that a second
     * failure is known to be its own; false once it used its attempts, or for other failures.
     */
    private boolean retried(SessionRequest r) throws Exception {
        String session = r.sessionId();
        int tries = store.attempts();
        if (r.reason != FinishReason.STEP_FAILED || tries >= config.maxAttempts()) {
            return false;
        }
        LOG.warn("Event {} of session {}: {}; running it again on its own (attempt {} of {})",
                r.event.getEventId(), session, r.error, tries + 1, config.maxAttempts());
        isolating.add(session);
        startNext(session);
        return true;
    }

    /** Stores what a finished request changed and answers it. */
    private void finished(SessionRequest r) throws Exception {
        HotSession s = r.session;
        int[] generated = r.generation.generated();
        int held = s.cache.tokens() - r.tokensBefore - r.prompt.length();
        s.append(r.prompt.tokens(), 0, r.prompt.length());
        s.append(generated, 0, held);
        s.recompute = null;
        ChatState after = r.chatAfter;
        if (r.kind == SessionRequest.Kind.REPLY) {
            String reply = engine.tokenizer().decode(generated);
            after = eventPrompts.replied(
                    r.sessionId(), r.chatAfter, reply, Arrays.copyOfRange(generated, held, generated.length));
            String rest = r.decoder.flush();
            if (!rest.isEmpty()) {
                responses.emit(r.event, new TokenDelta(r.deltas++, rest, List.of()));
            }
            responses.answer(r, reply, generated.length);
        }
        store.saveChat(r.messagesBefore, after);
        if (r.frame != null) {
            store.saveFrame(r.frame);
        }
        store.store(s, engine.fingerprint());
        metrics.storedBytesPerSession.update(s.cache.storedBytes());
        hot.update(s);
    }

    // ------------------------------------------------------------------ for tests

    @VisibleForTesting
    long stepsRun() {
        return batcher.stepsRun();
    }

    @VisibleForTesting
    int mostInFlight() {
        return mostInFlight;
    }

    @VisibleForTesting
    int hotSessions() {
        return hot.size();
    }

    @VisibleForTesting
    long hotBytes() {
        return hot.bytes();
    }

    @VisibleForTesting
    long evictions() {
        return hot.evictions();
    }

    @VisibleForTesting
    InferenceMetrics metrics() {
        return metrics;
    }
}
