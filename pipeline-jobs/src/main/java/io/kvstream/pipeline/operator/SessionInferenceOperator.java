package io.kvstream.pipeline.operator;

import static org.apache.flink.util.Preconditions.checkState;

import io.kvstream.kv.CacheSpec;
import io.kvstream.connect.serde.SingleObjectTypeInfo;
import io.kvstream.generate.ContinuousBatcher;
import io.kvstream.generate.Engine;
import io.kvstream.generate.FinishReason;
import io.kvstream.generate.GenerationRequest;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.PromptBuilder;
import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.block.CorruptBlockException;
import io.kvstream.kv.block.EncodedBlock;
import io.kvstream.kv.state.EncodedBlockSerializer;
import io.kvstream.kv.state.HistoryChunks;
import io.kvstream.kv.state.SessionMeta;
import io.kvstream.kv.state.SessionMetaSerializer;
import io.kvstream.model.vision.VisionConfig;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.runtime.ForwardBackend;
import io.kvstream.pipeline.model.ModelFiles;
import io.kvstream.pipeline.model.SlotThreads;
import io.kvstream.schema.CloseReason;
import io.kvstream.schema.ContextMessage;
import io.kvstream.schema.EndOfSession;
import io.kvstream.schema.ErrorCode;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.Sampling;
import io.kvstream.schema.SessionClosed;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.Timings;
import io.kvstream.schema.TokenDelta;
import io.kvstream.schema.Usage;
import io.kvstream.schema.UserTurn;
import io.kvstream.schema.VideoFrame;
import io.kvstream.schema.VideoQuery;
import io.kvstream.sampling.SamplingParams;
import io.kvstream.tokenizer.ChatMessage;
import io.kvstream.tokenizer.ChatTemplate;
import io.kvstream.tokenizer.ChatTemplateException;

import org.apache.flink.annotation.VisibleForTesting;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeutils.base.IntSerializer;
import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.api.common.typeutils.base.array.BytePrimitiveArraySerializer;
import org.apache.flink.api.common.typeutils.base.array.IntPrimitiveArraySerializer;
import org.apache.flink.api.common.typeutils.base.array.StringArraySerializer;
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

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Serves the sessions of one subtask: events of a session strictly in order, one request in
 * flight per session, the requests of all sessions batched into the steps of one {@link
 * ContinuousBatcher}.
 *
 * <p><b>Driving.</b> Steps run as mails of the task's mailbox: after an event is taken, a step
 * mail is enqueued that runs one batched forward step and enqueues itself again while there is
 * work, so input, timers and checkpoint barriers interleave with generation. From idle, the first
 * step waits (up to {@link PipelineConfig#maxWait()}) until a batch's worth of sequences or
 * tokens is queued. When {@link PipelineConfig#maxInFlight()} requests are generating, taking an
 * event that would start another yields to the mailbox (steps, timers, checkpoint mails) until one
 * finishes: the input backs up instead of a queue growing. After a restore, sessions with pending
 * events resume within the same limit.
 *
 * <p><b>State</b> (keyed by session id): the events not yet finished, the head being the one in
 * flight ({@code pending}); the KV cache as encoded blocks ({@code kv-blocks}) and its metadata
 * with the token history ({@code kv-meta}); the chat messages held ({@code chat}); the last video
 * frame ({@code last-frame}); recently seen event ids ({@code recent-ids}). Decoded caches of
 * recently used sessions stay in memory ({@link HotSessions}); any other session is restored
 * from its blocks when it returns.
 *
 * <p><b>Checkpoints</b> never wait for generation. A request stays in {@code pending} until it
 * finishes, and only then are its KV blocks, metadata and chat state written; so a snapshot holds
 * every session as of its last finished request plus the requests not finished yet. After a
 * restore, {@link #open()} resubmits the head of every session's pending events, and the request
 * runs again from its start: seeded sampling and batch-independent steps make it produce the same
 * tokens. Its final response is emitted once; token deltas streamed before the checkpoint are
 * emitted again with the same sequence numbers, which readers use to drop duplicates. Finishing
 * the in-flight work before the barrier instead would hold every checkpoint for as long as the
 * longest reply.
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
    private transient CacheSpec cacheSpec;
    private transient ContinuousBatcher batcher;
    private transient int[] stopTokens;
    private transient HotSessions hot;
    private transient InferenceMetrics metrics;

    private transient ListStateDescriptor<SessionEvent> pendingDescriptor;
    private transient ListState<SessionEvent> pending;
    private transient MapState<Integer, EncodedBlock> blocks;
    private transient ValueState<SessionMeta> meta;
    private transient MapState<Integer, int[]> history;
    private transient ChatStore chat;
    private transient ValueState<byte[]> lastFrame;
    private transient ValueState<String[]> recentIds;
    /**
     * Starts of the session's head event so far, counted before it runs: a request that takes
     * the task down is found here after the restore, and skipped once it used its attempts.
     */
    private transient ValueState<Integer> attempts;
    /** Sessions whose head event runs in steps of its own: a step it shared failed. */
    private transient java.util.Set<String> isolating;
    /** When the session's idle timer fires: the timer to delete when the next event comes. */
    private transient ValueState<Long> idleDeadline;
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
    private transient java.util.LinkedHashSet<String> suspects;
    @Nullable private transient String suspectRunning;
    /** The most requests in flight at once since open, for tests. */
    private transient int mostInFlight;
    /** Arrival times of events waiting behind another request of their session. */
    private transient Map<String, Long> arrivals;
    private transient boolean draining;
    private transient boolean stepping;
    private transient boolean waitTimerSet;
    /** While not stepping: when the first waiting request was submitted, and the tokens queued. */
    private transient long idleSinceNanos;
    private transient long queuedTokens;

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
        stopTokens = engine.stopTokens();
        batcher = new ContinuousBatcher(
                backendDecorator.apply(engine.backend()), config.maxSequences(), config.maxStepTokens(),
                config.prefillChunk());
        hot = new HotSessions(config.hotSetBytes());
        inFlight = new HashMap<>();
        finished = new ArrayDeque<>();
        arrivals = new HashMap<>();
        resuming = new ArrayDeque<>();
        suspects = new java.util.LinkedHashSet<>();
        idleSinceNanos = -1;

        pendingDescriptor = new ListStateDescriptor<>("pending", SingleObjectTypeInfo.forRecord(SessionEvent.class));
        pending = getRuntimeContext().getListState(pendingDescriptor);
        blocks = getRuntimeContext().getMapState(
                new MapStateDescriptor<>("kv-blocks", IntSerializer.INSTANCE, EncodedBlockSerializer.INSTANCE));
        meta = getRuntimeContext().getState(new ValueStateDescriptor<>("kv-meta", SessionMetaSerializer.INSTANCE));
        history = getRuntimeContext().getMapState(new MapStateDescriptor<>(
                "history", IntSerializer.INSTANCE, IntPrimitiveArraySerializer.INSTANCE));
        chat = new ChatStore(getRuntimeContext());
        lastFrame = getRuntimeContext().getState(
                new ValueStateDescriptor<>("last-frame", BytePrimitiveArraySerializer.INSTANCE));
        recentIds = getRuntimeContext().getState(
                new ValueStateDescriptor<>("recent-ids", StringArraySerializer.INSTANCE));
        attempts = getRuntimeContext().getState(new ValueStateDescriptor<>("attempts", IntSerializer.INSTANCE));
        isolating = new java.util.HashSet<>();
        idleDeadline = getRuntimeContext().getState(
                new ValueStateDescriptor<>("idle-deadline", LongSerializer.INSTANCE));
        idleTimers = getInternalTimerService("idle-sessions", VoidNamespaceSerializer.INSTANCE, this);

        metrics = new InferenceMetrics(getMetricGroup(), hot::size, hot::bytes);
        resumePending();
    }

    /**
     * After a restore: every session that has events left resumes, within the in-flight limit;
     * the rest start as requests finish ({@link #resumeWaiting}).
     */
    private void resumePending() throws Exception {
        List<String> sessions = new ArrayList<>();
        this.<String>getKeyedStateBackend().applyToAllKeys(
                VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE, pendingDescriptor,
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
            if (attempts.value() != null) {
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
        if (!remember(event.getEventId())) {
            metrics.duplicates.inc();
            LOG.debug("Dropping duplicate event {} of session {}", event.getEventId(), session);
            return;
        }
        pending.add(event);
        arrivals.put(event.getEventId(), System.nanoTime());
        touch();
        if (inFlight.containsKey(session) || suspects.contains(session)) {
            return;
        }
        if (inFlight.size() >= config.maxInFlight()) {
            // Backpressure: the input waits while the mailbox runs steps, timers and checkpoint
            // mails, until a request finishes (as AsyncWaitOperator waits for a free slot).
            while (inFlight.size() >= config.maxInFlight()) {
                if (!stepping) {
                    startStepping();
                }
                mailbox.yield();
            }
            setCurrentKey(session);
        }
        startNext(session);
    }

    /** Adds an event id to the session's recent ids; false when it is there already. */
    private boolean remember(String eventId) throws Exception {
        String[] ids = recentIds.value();
        if (ids == null) {
            recentIds.update(new String[] {eventId});
            return true;
        }
        for (String id : ids) {
            if (id.equals(eventId)) {
                return false;
            }
        }
        int keep = Math.min(ids.length, config.recentEventIds() - 1);
        String[] next = new String[keep + 1];
        System.arraycopy(ids, ids.length - keep, next, 0, keep);
        next[keep] = eventId;
        recentIds.update(next);
        return true;
    }

    // ------------------------------------------------------------------ idle sessions

    /** Moves the current session's idle timer to a full timeout from now. */
    private void touch() throws Exception {
        long timeout = config.idleTimeout().toMillis();
        if (timeout == 0) {
            return;
        }
        Long previous = idleDeadline.value();
        if (previous != null) {
            idleTimers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, previous);
        }
        long deadline = getProcessingTimeService().getCurrentProcessingTime() + timeout;
        idleTimers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, deadline);
        idleDeadline.update(deadline);
    }

    @Override
    public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
        String session = timer.getKey();
        setCurrentKey(session);
        idleDeadline.clear();
        if (inFlight.containsKey(session) || pending.get().iterator().hasNext()) {
            // Still being served (or waiting to resume after a restore): not idle.
            touch();
            return;
        }
        String[] ids = recentIds.value();
        String lastEventId = ids == null || ids.length == 0 ? "" : ids[ids.length - 1];
        long idleMs = config.idleTimeout().toMillis();
        endSession(session);
        metrics.expiredSessions.inc();
        LOG.debug("Session {} closed after {} ms without an event", session, idleMs);
        output.collect(new StreamRecord<>(new ResponseEvent(
                lastEventId, session, new SessionClosed(CloseReason.IDLE, idleMs))));
    }

    @Override
    public void onEventTime(InternalTimer<String, VoidNamespace> timer) {
        // Sessions expire on processing time only.
    }

    // ------------------------------------------------------------------ requests

    /** Starts the session's next pending event, if any; the current key must be the session. */
    private void startNext(String session) throws Exception {
        while (!inFlight.containsKey(session)) {
            Iterator<SessionEvent> it = pending.get().iterator();
            if (!it.hasNext()) {
                return;
            }
            SessionEvent head = it.next();
            Long arrived = arrivals.remove(head.getEventId());
            int tries = attempts.value() == null ? 0 : attempts.value();
            if (tries >= config.maxAttempts()) {
                // It ran this often and never finished: it took the task down each time.
                metrics.poisonRequests.inc();
                error(head, ErrorCode.INTERNAL, String.format(
                        "Serving this event failed %d times (the task failed or its steps did); skipped", tries));
                removeHead();
                continue;
            }
            SessionRequest request = prepare(session, head, arrived != null ? arrived : System.nanoTime());
            if (request == null) {
                removeHead();
                continue;
            }
            attempts.update(tries + 1);
            int maxNew = request.kind == SessionRequest.Kind.REPLY ? maxNewTokens(head) : 0;
            GenerationRequest generation = new GenerationRequest(
                    head.getEventId(), request.prompt, request.session.cache, maxNew, stopTokens,
                    sampling(head), request);
            if (isolating.contains(session)) {
                generation.isolate();
            }
            request.generation = generation;
            inFlight.put(session, request);
            mostInFlight = Math.max(mostInFlight, inFlight.size());
            if (!stepping) {
                if (idleSinceNanos < 0) {
                    idleSinceNanos = System.nanoTime();
                }
                queuedTokens += request.prompt.length();
            }
            batcher.submit(generation);
            drainFinished();
            scheduleSteps();
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
            emit(event, new SessionClosed(CloseReason.ENDED, 0L));
            return null;
        }
        try {
            HotSession s = session(session);
            if (s.lost != null) {
                error(event, ErrorCode.INTERNAL, s.lost);
                s.lost = null;
                return null;
            }
            ChatState held = chat.load();
            if (held == null) {
                held = ChatState.start(template.render(List.of(), false));
            }
            Prompt prompt = new Prompt();
            int cached = s.cache.tokens();
            if (s.recompute != null) {
                prompt.add(s.recompute);
                cached = 0;
            }
            prompt.add(held.unfedTokens());
            SessionRequest.Kind kind;
            ChatState after;
            String rendered = null;
            byte[] frame = null;
            if (payload instanceof UserTurn || payload instanceof VideoQuery) {
                String text = payload instanceof UserTurn
                        ? ((UserTurn) payload).getText() : ((VideoQuery) payload).getText();
                int maxNew = maxNewTokens(event);
                if (maxNew > engine.config().contextLength()) {
                    throw new IllegalArgumentException(String.format(
                            "max_new_tokens %d is more than the model's context of %d tokens",
                            maxNew, engine.config().contextLength()));
                }
                sampling(event);
                ChatMessage user = ChatMessage.user(text);
                List<ChatMessage> messages = append(held.messages(), user);
                rendered = template.render(messages, true);
                prompts.appendText(
                        prompt, held.unfedText() + template.renderAppended(held.messages(), List.of(user), true));
                kind = SessionRequest.Kind.REPLY;
                after = new ChatState(messages, NO_TOKENS, "");
            } else if (payload instanceof ContextMessage) {
                ContextMessage m = (ContextMessage) payload;
                ChatMessage message = new ChatMessage(m.getRole(), m.getText());
                List<ChatMessage> messages = append(held.messages(), message);
                prompts.appendText(
                        prompt, held.unfedText() + template.renderAppended(held.messages(), List.of(message), false));
                kind = SessionRequest.Kind.CONTEXT;
                after = new ChatState(messages, NO_TOKENS, "");
            } else if (payload instanceof VideoFrame) {
                VideoFrame f = (VideoFrame) payload;
                frame = frameBytes(f);
                prompts.appendText(prompt, held.unfedText());
                prompts.appendFrame(prompt, f.getIndex(), frame, lastFrame.value());
                kind = SessionRequest.Kind.FRAME;
                after = held.fed();
            } else {
                error(event, ErrorCode.INVALID_REQUEST, "Unknown payload "
                        + (payload == null ? "null" : payload.getClass().getSimpleName()));
                return null;
            }
            if (prompt.length() > s.cache.remaining()) {
                error(event, ErrorCode.CONTEXT_OVERFLOW, String.format(
                        "The event adds %d tokens; the session holds %d and has room for %d more (context %d)",
                        prompt.length(), s.cache.tokens(), s.cache.remaining(), engine.config().contextLength()));
                return null;
            }
            return new SessionRequest(
                    event, s, kind, prompt, after, held.messages().size(), rendered, frame, cached, arrivalNanos,
                    System.nanoTime(),
                    engine.tokenizer().newStreamingDecoder(), this);
        } catch (IllegalArgumentException | ChatTemplateException e) {
            error(event, ErrorCode.INVALID_REQUEST, e.getMessage());
            return null;
        } catch (RuntimeException e) {
            // A fault of ours, not of the event's: this event fails, the session and the others go on.
            LOG.error("Event {} of session {}: preparing it failed", event.getEventId(), session, e);
            hot.remove(session);
            error(event, ErrorCode.INTERNAL, "Preparing this event failed: " + e);
            return null;
        }
    }

    /** The session's decoded cache: hot, restored from its blocks, or new. */
    private HotSession session(String session) throws Exception {
        HotSession s = hot.get(session);
        if (s != null) {
            return s;
        }
        SessionMeta stored = meta.value();
        CompressedKvCache cache = engine.newCache(cacheSpec.kv());
        if (stored == null) {
            s = new HotSession(session, cache, NO_TOKENS);
            hot.put(s);
            return s;
        }
        int[] ids;
        try {
            ids = stored.inlineHistory() != null
                    ? stored.inlineHistory()
                    : HistoryChunks.join(historyChunks(), stored.historyLength());
        } catch (IOException e) {
            s = new HotSession(session, cache, NO_TOKENS);
            reset(session, s, "its token history could not be read (" + e.getMessage() + ")");
            hot.put(s);
            return s;
        }
        String unusable = unusableBecause(stored);
        if (unusable == null) {
            try {
                cache.restore(session, stored, blocks.values());
                s = new HotSession(session, cache, ids);
                // State of the first format keeps its history inline: the next store moves it to chunks.
                s.storedHistory = stored.inlineHistory() != null ? 0 : ids.length;
                metrics.restoredSessions.inc();
                hot.put(s);
                return s;
            } catch (CorruptBlockException e) {
                unusable = e.getMessage();
                cache.clear();
            }
        }
        blocks.clear();
        s = new HotSession(session, cache, NO_TOKENS);
        if (prompts.hasImagePositions(ids)) {
            // Frames went in as patch embeddings, which their token ids cannot reproduce:
            // recomputing would answer from a different session. Start over, and say so.
            reset(session, s, "its stored KV cache cannot be used (" + unusable + ") and it held video frames,"
                    + " which cannot be recomputed from its token history");
        } else {
            LOG.warn("Session {}: stored KV cache not used ({}); recomputing {} tokens from its history",
                    session, unusable, ids.length);
            s.recompute = ids;
            metrics.recomputedSessions.inc();
        }
        hot.put(s);
        return s;
    }

    /**
     * Why stored blocks must not be fed to this job's attention, or null: keys and values are
     * only meaningful to the weights that computed them, and another model of the same shape
     * would read them without any error. State written before the model was recorded is trusted
     * as it was before.
     */
    @Nullable
    private String unusableBecause(SessionMeta stored) {
        if (!stored.model().isEmpty() && !stored.model().equals(engine.fingerprint())) {
            return "it was computed by another model (fingerprint " + stored.model() + "; this job runs "
                    + engine.fingerprint() + ")";
        }
        if (!stored.spec().equals(cacheSpec.kv().toString())) {
            return "it was stored with --kv " + stored.spec() + " and this job runs --kv " + cacheSpec.kv();
        }
        return null;
    }

    /** Starts the session over, empty, and has the next event answered with why. */
    private void reset(String session, HotSession s, String why) throws Exception {
        LOG.warn("Session {}: {}; the session starts over empty", session, why);
        blocks.clear();
        meta.clear();
        history.clear();
        chat.clear();
        lastFrame.clear();
        s.lost = "The session was reset: " + why + ". This event was not processed.";
        metrics.lostSessions.inc();
    }

    private Map<Integer, int[]> historyChunks() throws Exception {
        Map<Integer, int[]> chunks = new HashMap<>();
        for (Map.Entry<Integer, int[]> e : history.entries()) {
            chunks.put(e.getKey(), e.getValue());
        }
        return chunks;
    }

    private byte[] frameBytes(VideoFrame f) {
        VisionConfig vc = engine.projector() != null ? engine.projector().config() : null;
        if (vc == null) {
            throw new IllegalArgumentException("A video frame needs a vision projector; the job has none");
        }
        ByteBuffer rgb = f.getRgb();
        if (f.getWidth() != vc.frameSize() || f.getHeight() != vc.frameSize()
                || rgb == null || rgb.remaining() != vc.frameBytes()) {
            throw new IllegalArgumentException(String.format(
                    "Frame %d is %dx%d with %d bytes; the projector takes %dx%d RGB frames of %d bytes",
                    f.getIndex(), f.getWidth(), f.getHeight(), rgb == null ? 0 : rgb.remaining(),
                    vc.frameSize(), vc.frameSize(), vc.frameBytes()));
        }
        byte[] bytes = new byte[rgb.remaining()];
        rgb.duplicate().get(bytes);
        return bytes;
    }

    private static int maxNewTokens(SessionEvent event) {
        Object p = event.getPayload();
        int n = p instanceof UserTurn ? ((UserTurn) p).getMaxNewTokens()
                : p instanceof VideoQuery ? ((VideoQuery) p).getMaxNewTokens() : 0;
        if (n < 0) {
            throw new IllegalArgumentException("max_new_tokens must be >= 0, got " + n);
        }
        return n;
    }

    private static SamplingParams sampling(SessionEvent event) {
        Object p = event.getPayload();
        Sampling s = p instanceof UserTurn ? ((UserTurn) p).getSampling()
                : p instanceof VideoQuery ? ((VideoQuery) p).getSampling() : null;
        if (s == null) {
            return SamplingParams.GREEDY;
        }
        return new SamplingParams(s.getTemperature(), s.getTopK(), s.getTopP(), s.getRepetitionPenalty(), s.getSeed());
    }

    private static List<ChatMessage> append(List<ChatMessage> messages, ChatMessage m) {
        List<ChatMessage> all = new ArrayList<>(messages.size() + 1);
        all.addAll(messages);
        all.add(m);
        return all;
    }

    /** Frees everything the session holds, in memory and in state. */
    private void endSession(String session) throws Exception {
        hot.remove(session);
        blocks.clear();
        meta.clear();
        history.clear();
        chat.clear();
        lastFrame.clear();
        recentIds.clear();
        Long deadline = idleDeadline.value();
        if (deadline != null) {
            idleTimers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, deadline);
            idleDeadline.clear();
        }
        LOG.debug("Session {} ended", session);
    }

    private void removeHead() throws Exception {
        attempts.clear();
        isolating.remove((String) getCurrentKey());
        List<SessionEvent> rest = new ArrayList<>();
        Iterator<SessionEvent> it = pending.get().iterator();
        if (it.hasNext()) {
            it.next();
        }
        while (it.hasNext()) {
            rest.add(it.next());
        }
        if (rest.isEmpty()) {
            pending.clear();
        } else {
            pending.update(rest);
        }
    }

    // ------------------------------------------------------------------ steps

    private void scheduleSteps() {
        if (stepping || !batcher.busy()) {
            return;
        }
        long waitNanos = config.maxWait().toNanos();
        if (waitNanos == 0
                || inFlight.size() >= config.maxSequences()
                || queuedTokens >= config.maxStepTokens()
                || System.nanoTime() - idleSinceNanos >= waitNanos) {
            startStepping();
        } else if (!waitTimerSet) {
            waitTimerSet = true;
            long at = getProcessingTimeService().getCurrentProcessingTime() + Math.max(1, config.maxWait().toMillis());
            getProcessingTimeService().registerTimer(at, time -> {
                waitTimerSet = false;
                if (!stepping && batcher.busy()) {
                    startStepping();
                }
            });
        }
    }

    private void startStepping() {
        stepping = true;
        mailbox.execute(this::stepMail, "kvstream inference step");
    }

    private void stepMail() throws Exception {
        runStep();
        if (batcher.busy()) {
            mailbox.execute(this::stepMail, "kvstream inference step");
        } else {
            stepping = false;
            idleSinceNanos = -1;
            queuedTokens = 0;
        }
    }

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
        emit(request.event, new TokenDelta(request.deltas++, text, List.of(token)));
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
            error(r.event, ErrorCode.INTERNAL, r.error != null ? r.error : "request failed");
        } else {
            try {
                finished(r);
            } catch (RuntimeException e) {
                LOG.error("Event {} of session {}: storing or answering it failed", r.event.getEventId(), session, e);
                // What was stored of it is checked at the session's next restore.
                hot.remove(session);
                error(r.event, ErrorCode.INTERNAL, "Storing or answering this event failed: " + e);
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
        int tries = attempts.value() == null ? 0 : attempts.value();
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
            after = replied(r, generated, held, reply);
            String rest = r.decoder.flush();
            if (!rest.isEmpty()) {
                emit(r.event, new TokenDelta(r.deltas++, rest, List.of()));
            }
            answer(r, reply, generated.length);
        }
        chat.save(r.messagesBefore, after);
        if (r.frame != null) {
            lastFrame.update(r.frame);
        }
        store(s);
        hot.update(s);
    }

    /**
     * The chat state after a reply: the reply joins the messages, and what the template renders
     * after it that the cache does not hold (the end-of-turn token, a last token drawn at the
     * limit) is left for the next prompt.
     */
    private ChatState replied(SessionRequest r, int[] generated, int held, String reply) {
        List<ChatMessage> messages = append(r.chatAfter.messages(), ChatMessage.assistant(reply));
        String rendered = template.render(messages, false);
        String fed = r.renderedPrompt + reply;
        String unfed;
        if (rendered.startsWith(fed)) {
            unfed = rendered.substring(fed.length());
        } else {
            int common = 0;
            int max = Math.min(fed.length(), rendered.length());
            while (common < max && fed.charAt(common) == rendered.charAt(common)) {
                common++;
            }
            LOG.warn("Session {}: the template renders the reply differently from what was generated;"
                    + " continuing after character {}", r.sessionId(), common);
            unfed = rendered.substring(common);
        }
        return new ChatState(messages, Arrays.copyOfRange(generated, held, generated.length), unfed);
    }

    /** Writes the blocks the finished request changed, and the session's metadata. */
    private void store(HotSession s) throws Exception {
        CompressedKvCache cache = s.cache;
        for (int b : cache.dirtyBlocks()) {
            EncodedBlock block = cache.block(b);
            if (block == null) {
                blocks.remove(b);
            } else {
                blocks.put(b, block);
            }
        }
        cache.markClean();
        // Only the history's last chunk and new ones: a turn writes what it adds.
        int length = s.historyLength();
        if (length > s.storedHistory) {
            int[] ids = s.history();
            for (int c = HistoryChunks.firstChanged(s.storedHistory); c < HistoryChunks.chunks(length); c++) {
                history.put(c, HistoryChunks.chunk(ids, length, c));
            }
            s.storedHistory = length;
        }
        meta.update(cache.sessionMeta(engine.fingerprint(), length));
        metrics.storedBytesPerSession.update(cache.storedBytes());
    }

    private void answer(SessionRequest r, String text, int generated) {
        long now = System.nanoTime();
        io.kvstream.schema.FinishReason reason;
        switch (r.reason) {
            case STOP:
                reason = io.kvstream.schema.FinishReason.STOP;
                break;
            case LENGTH:
                reason = io.kvstream.schema.FinishReason.LENGTH;
                break;
            case CONTEXT:
                reason = io.kvstream.schema.FinishReason.CONTEXT;
                break;
            default:
                reason = io.kvstream.schema.FinishReason.ERROR;
        }
        metrics.countPrompt(r.cachedTokens, r.prompt.length());
        long ttft = r.firstTokenNanos > 0 ? r.firstTokenNanos - r.arrivalNanos : now - r.arrivalNanos;
        emit(r.event, new FinalResponse(
                text, reason,
                new Usage(r.prompt.length(), r.cachedTokens, generated),
                new Timings(
                        (r.startNanos - r.arrivalNanos) / 1_000_000, ttft / 1_000_000,
                        (now - r.arrivalNanos) / 1_000_000)));
    }

    private void error(SessionEvent event, ErrorCode code, String message) {
        metrics.errors.inc();
        LOG.info("Event {} of session {}: {} {}", event.getEventId(), event.getSessionId(), code, message);
        emit(event, new ErrorEvent(code, message));
    }

    private void emit(SessionEvent event, Object payload) {
        output.collect(new StreamRecord<>(new ResponseEvent(event.getEventId(), event.getSessionId(), payload)));
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
