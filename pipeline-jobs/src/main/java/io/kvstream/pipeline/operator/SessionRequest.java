package io.kvstream.pipeline.operator;

import io.kvstream.generate.FinishReason;
import io.kvstream.generate.GenerationRequest;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.TokenListener;
import io.kvstream.schema.SessionEvent;
import io.kvstream.tokenizer.BpeTokenizer;

import javax.annotation.Nullable;

/**
 * One event of a session being served: its prompt in the batcher, what it will change in the
 * session once it finishes, and its progress (timings, streamed tokens).
 */
final class SessionRequest implements TokenListener {

    /** What the operator does with a request's tokens and end; called on the task thread. */
    interface Callbacks {
        void onToken(SessionRequest request, int token, int index);

        void onFinished(SessionRequest request);
    }

    enum Kind {
        /** A user turn or video query: prefill, then generate a reply. */
        REPLY,
        /** A context message: prefill only. */
        CONTEXT,
        /** A video frame: prefill only. */
        FRAME
    }

    final SessionEvent event;
    final HotSession session;
    final Kind kind;
    final Prompt prompt;
    /** Chat state once this request is fed (for replies, before the reply is added). */
    final ChatState chatAfter;
    /** Messages the session's stored chat state held before this request. */
    final int messagesBefore;
    /** For frames, the frame to keep for the next frame's patch dropping. */
    @Nullable final byte[] frame;
    /** Tokens the session's cache held before the request, served from memory or state. */
    final int cachedTokens;
    /** Tokens the cache held at submission; with {@link #prompt}, where generated tokens start. */
    final int tokensBefore;
    final long arrivalNanos;
    final long startNanos;
    final BpeTokenizer.StreamingDecoder decoder;
    private final Callbacks callbacks;

    long firstTokenNanos;
    int deltas;
    @Nullable FinishReason reason;
    @Nullable String error;
    @Nullable GenerationRequest generation;

    SessionRequest(
            SessionEvent event, HotSession session, Kind kind, Prompt prompt, ChatState chatAfter,
            int messagesBefore, @Nullable byte[] frame, int cachedTokens,
            long arrivalNanos, long startNanos, BpeTokenizer.StreamingDecoder decoder,
            Callbacks callbacks) {
        this.event = event;
        this.session = session;
        this.kind = kind;
        this.prompt = prompt;
        this.chatAfter = chatAfter;
        this.messagesBefore = messagesBefore;
        this.frame = frame;
        this.cachedTokens = cachedTokens;
        this.tokensBefore = session.cache.tokens();
        this.arrivalNanos = arrivalNanos;
        this.startNanos = startNanos;
        this.decoder = decoder;
        this.callbacks = callbacks;
    }

    String sessionId() {
        return session.id;
    }

    String eventId() {
        return event.getEventId();
    }

    @Override
    public void onToken(GenerationRequest request, int token, int index) {
        if (index == 0) {
            firstTokenNanos = System.nanoTime();
        }
        callbacks.onToken(this, token, index);
    }

    @Override
    public void onFinish(GenerationRequest request, FinishReason reason, @Nullable String error) {
        this.reason = reason;
        this.error = error;
        callbacks.onFinished(this);
    }
}
