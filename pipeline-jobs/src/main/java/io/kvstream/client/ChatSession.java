package io.kvstream.client;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.ResponseConsumer;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.schema.EndOfSession;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.TokenDelta;

import java.io.PrintStream;
import java.time.Duration;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * One session seen from a client: sends events, waits for the answer to a request while its
 * tokens stream in. Used by the interactive commands and the demo.
 */
public final class ChatSession implements AutoCloseable {

    /**
     * A finished reply.
     *
     * @param clientTtftMs from sending the request to its first token arriving here
     */
    public record Reply(String text, int promptTokens, int cachedTokens, int generatedTokens,
                        long ttftMs, long totalMs, long clientTtftMs, String finishReason) {

        /** Decode speed: tokens after the first over the time after the first. */
        public double tokensPerSecond() {
            long decodeMs = totalMs - ttftMs;
            return generatedTokens > 1 && decodeMs > 0 ? (generatedTokens - 1) * 1000.0 / decodeMs : Double.NaN;
        }

        /** "[ttft 41 ms, 3 tokens, 95.2 tokens/s, 120 cached]" */
        public String stats() {
            double tps = tokensPerSecond();
            return String.format("[ttft %d ms (%d ms end to end), %d tokens%s, %d prompt + %d cached tokens]",
                    ttftMs, clientTtftMs, generatedTokens,
                    Double.isNaN(tps) ? "" : String.format(", %.1f tokens/s", tps), promptTokens, cachedTokens);
        }
    }

    /** The pipeline answered a request with an error. */
    public static final class ErrorReply extends Exception {
        private static final long serialVersionUID = 1L;

        ErrorReply(String message) {
            super(message);
        }
    }

    private final SessionEventProducer producer;
    private final ResponseConsumer responses;
    private final String sessionId;
    private final Duration timeout;

    /** @param producer shared, not closed by this session */
    public ChatSession(KvstreamKafkaConfig config, SessionEventProducer producer, String sessionId, Duration timeout) {
        this.producer = producer;
        this.sessionId = sessionId;
        this.timeout = timeout;
        // Before anything is sent: it reads from the partition's end as of now.
        this.responses = ResponseConsumer.forSession(config, sessionId);
    }

    public String id() {
        return sessionId;
    }

    /** Sends an event that gets no answer (context, frames). */
    public SessionEvent send(Object payload) {
        return producer.send(sessionId, payload);
    }

    /** Sends a request and waits for its answer, handing each token's text to {@code onText}. */
    public Reply ask(Object request, Consumer<String> onText) throws TimeoutException, ErrorReply {
        SessionEvent event = SessionEventProducer.newEvent(sessionId, request);
        producer.send(event);
        producer.flush();
        long sent = System.nanoTime();
        long[] first = new long[1];
        ResponseEvent last = responses.awaitFinal(event.getEventId(), timeout, r -> {
            if (r.getPayload() instanceof TokenDelta d) {
                if (first[0] == 0) {
                    first[0] = System.nanoTime();
                }
                onText.accept(d.getText());
            }
        });
        if (last.getPayload() instanceof ErrorEvent e) {
            throw new ErrorReply(e.getCode() + ": " + e.getMessage());
        }
        FinalResponse f = (FinalResponse) last.getPayload();
        long clientTtft = ((first[0] == 0 ? System.nanoTime() : first[0]) - sent) / 1_000_000;
        return new Reply(f.getText(), f.getUsage().getPromptTokens(), f.getUsage().getCachedTokens(),
                f.getUsage().getGeneratedTokens(), f.getTimings().getTimeToFirstTokenMs(),
                f.getTimings().getTotalMs(), clientTtft, f.getFinishReason().name().toLowerCase());
    }

    /** Streams the reply to {@code out} as it comes, then its figures on a line of their own. */
    public Reply askAndPrint(Object request, PrintStream out) throws TimeoutException, ErrorReply {
        Reply reply = ask(request, text -> {
            out.print(text);
            out.flush();
        });
        out.println();
        out.println(reply.stats());
        return reply;
    }

    /** Tells the pipeline the session is over, so its state can go. */
    public void end(String reason) {
        producer.send(sessionId, EndOfSession.newBuilder().setReason(reason).build());
        producer.flush();
    }

    @Override
    public void close() {
        responses.close();
    }
}
