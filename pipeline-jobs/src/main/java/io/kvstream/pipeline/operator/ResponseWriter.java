package io.kvstream.pipeline.operator;

import io.kvstream.schema.ErrorCode;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.Timings;
import io.kvstream.schema.Usage;

import org.apache.flink.streaming.api.operators.Output;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the operator answers, as {@link ResponseEvent}s keyed by the request's event and session:
 * token deltas, final responses with their usage and timings, errors, and session closings.
 */
final class ResponseWriter {

    private static final Logger LOG = LoggerFactory.getLogger(ResponseWriter.class);

    private final Output<StreamRecord<ResponseEvent>> output;
    private final InferenceMetrics metrics;

    ResponseWriter(Output<StreamRecord<ResponseEvent>> output, InferenceMetrics metrics) {
        this.output = output;
        this.metrics = metrics;
    }

    /** Any payload, answering {@code event}. */
    void emit(SessionEvent event, Object payload) {
        emit(event.getEventId(), event.getSessionId(), payload);
    }

    void emit(String eventId, String session, Object payload) {
        output.collect(new StreamRecord<>(new ResponseEvent(eventId, session, payload)));
    }

    /** An event that could not be served; the session goes on. */
    void error(SessionEvent event, ErrorCode code, String message) {
        metrics.errors.inc();
        LOG.info("Event {} of session {}: {} {}", event.getEventId(), event.getSessionId(), code, message);
        emit(event, new ErrorEvent(code, message));
    }

    /** The final response of a finished reply. */
    void answer(SessionRequest r, String text, int generated) {
        long now = System.nanoTime();
        metrics.countPrompt(r.cachedTokens, r.prompt.length());
        long ttft = r.firstTokenNanos > 0 ? r.firstTokenNanos - r.arrivalNanos : now - r.arrivalNanos;
        emit(r.event, new FinalResponse(
                text, finishReason(r),
                new Usage(r.prompt.length(), r.cachedTokens, generated),
                new Timings(
                        (r.startNanos - r.arrivalNanos) / 1_000_000, ttft / 1_000_000,
                        (now - r.arrivalNanos) / 1_000_000)));
    }

    private static io.kvstream.schema.FinishReason finishReason(SessionRequest r) {
        if (r.reason == null) {
            return io.kvstream.schema.FinishReason.ERROR;
        }
        switch (r.reason) {
            case STOP:
                return io.kvstream.schema.FinishReason.STOP;
            case LENGTH:
                return io.kvstream.schema.FinishReason.LENGTH;
            case CONTEXT:
                return io.kvstream.schema.FinishReason.CONTEXT;
            default:
                return io.kvstream.schema.FinishReason.ERROR;
        }
    }
}
