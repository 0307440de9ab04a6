package io.kvstream.pipeline.operator;

import static io.kvstream.pipeline.Events.context;
import static io.kvstream.pipeline.Events.end;
import static io.kvstream.pipeline.Events.event;
import static io.kvstream.pipeline.Events.frame;
import static io.kvstream.pipeline.Events.query;
import static io.kvstream.pipeline.Events.turn;
import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.generate.Engine;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.pipeline.Responses;
import io.kvstream.pipeline.TestModels;
import io.kvstream.schema.CloseReason;
import io.kvstream.schema.ErrorCode;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.Sampling;
import io.kvstream.schema.SessionClosed;
import io.kvstream.schema.TokenDelta;
import io.kvstream.schema.UserTurn;
import io.kvstream.testing.RefModel;

import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The inference operator in Flink's keyed test harness, on the tiny reference model. */
class SessionInferenceOperatorTest {

    private static final String FACT = "my favorite color is white.";
    private static final String QUESTION = "what is my favorite color?";

    private static final String REPEAT = "repeat after me: kapucu paso genohu zofi lo";

    private static Engine engine;

    @BeforeAll
    static void openEngine() throws Exception {
        engine = Engine.open(RefModel.file("refmodel-q8_0.gguf"), null, null, 2);
    }

    @AfterAll
    static void closeEngine() {
        if (engine != null) {
            engine.close();
        }
    }

    private static PipelineConfig config(String kv) {
        return TestModels.refmodel(kv).build();
    }

    @Test
    void turnsOfASessionAreAnsweredInOrderWithTheEarlierContext() throws Exception {
        Reference reference = new Reference(engine, "full");
        String first = reference.turn(FACT, 8);
        String second = reference.turn(QUESTION, 8);
        try (Harness h = new Harness(config("full"))) {
            // Both arrive before any step: the second waits in state for the first.
            h.send(turn("s", "e1", FACT, 8), turn("s", "e2", QUESTION, 8)).drain();
            List<ResponseEvent> out = h.output();

            Map<String, FinalResponse> finals = Responses.finals(out);
            assertThat(finals.keySet()).containsExactly("e1", "e2");
            assertThat(finals.get("e1").getText()).isEqualTo(first);
            assertThat(finals.get("e2").getText()).isEqualTo(second).isEqualTo("white");
            assertThat(lastIndexOf(out, "e1")).isLessThan(firstIndexOf(out, "e2"));
            List<TokenDelta> deltas = Responses.deltas(out, "e2");
            for (int i = 0; i < deltas.size(); i++) {
                assertThat(deltas.get(i).getSeq()).isEqualTo(i);
            }
            assertThat(Responses.streamedText(out, "e2")).isEqualTo(second);
            FinalResponse f2 = finals.get("e2");
            assertThat(f2.getUsage().getCachedTokens()).isGreaterThan(f2.getUsage().getPromptTokens());
            assertThat(f2.getTimings().getTotalMs()).isGreaterThanOrEqualTo(f2.getTimings().getTimeToFirstTokenMs());
        }
    }

    @Test
    void sessionsShareStepsAndAnswerAsIfAlone() throws Exception {
        String[] facts = {FACT, "my lucky number is 94842.", "repeat after me: guco meso kupi", "hello there."};
        List<ResponseEvent> batched;
        List<ResponseEvent> serial;
        long batchedSteps;
        long serialSteps;
        try (Harness h = new Harness(config("full"))) {
            for (int i = 0; i < facts.length; i++) {
                h.send(turn("s" + i, "e" + i, facts[i], 8));
            }
            batched = h.drain().output();
            batchedSteps = h.operator().stepsRun();
        }
        try (Harness h = new Harness(config("full").toBuilder().maxSequences(1).build())) {
            for (int i = 0; i < facts.length; i++) {
                h.send(turn("s" + i, "e" + i, facts[i], 8));
            }
            serial = h.drain().output();
            serialSteps = h.operator().stepsRun();
        }
        System.out.printf("batching: %d sessions in %d steps together, %d one at a time%n",
                facts.length, batchedSteps, serialSteps);
        assertThat(batchedSteps).isLessThan(serialSteps);
        Map<String, FinalResponse> a = Responses.finals(batched);
        Map<String, FinalResponse> b = Responses.finals(serial);
        assertThat(a).hasSize(facts.length);
        for (String id : a.keySet()) {
            assertThat(a.get(id).getText()).isEqualTo(b.get(id).getText());
        }
    }

    @Test
    void aSnapshotMidGenerationRestoresWithoutLosingOrRepeatingTheRequest() throws Exception {
        List<ResponseEvent> uninterrupted;
        try (Harness h = new Harness(config("kivi2"))) {
            uninterrupted = h.sendAndDrain(
                    turn("s", "e1", FACT, 8), turn("s", "e2", REPEAT, 12), turn("s", "e3", "hello.", 8))
                    .output();
        }
        List<ResponseEvent> before;
        OperatorSubtaskState snapshot;
        try (Harness h = new Harness(config("kivi2"))) {
            h.sendAndDrain(turn("s", "e1", FACT, 8));
            // e2 is generating, e3 waits behind it.
            h.send(turn("s", "e2", REPEAT, 12), turn("s", "e3", "hello.", 8)).runMails(3);
            assertThat(Responses.deltas(h.output(), "e2")).isNotEmpty();
            before = h.output();
            assertThat(Responses.finals(before)).containsOnlyKeys("e1");
            snapshot = h.snapshot(1);
        }
        List<ResponseEvent> after;
        try (Harness h = new Harness(config("kivi2"), snapshot)) {
            // A duplicate of a request that is already pending is dropped.
            h.send(turn("s", "e3", "hello.", 8));
            after = h.drain().output();
        }
        List<ResponseEvent> all = new ArrayList<>(before);
        all.addAll(after);
        assertThat(finalIds(all)).containsExactly("e1", "e2", "e3");
        Map<String, FinalResponse> expected = Responses.finals(uninterrupted);
        Map<String, FinalResponse> actual = Responses.finals(all);
        for (String id : expected.keySet()) {
            assertThat(actual.get(id).getText()).as(id).isEqualTo(expected.get(id).getText());
        }
        // Deltas streamed before the snapshot come again, with the same sequence numbers and text.
        assertThat(Responses.streamedText(after, "e2")).isEqualTo(expected.get("e2").getText());
    }

    @Test
    void badEventsGetErrorsAndTheSessionGoesOn() throws Exception {
        StringBuilder huge = new StringBuilder();
        for (int i = 0; i < 5000; i++) {
            huge.append("zo ka ");
        }
        try (Harness h = new Harness(config("full"))) {
            h.sendAndDrain(
                    turn("s", "e1", FACT, 8),
                    frame("s", "bad-frame", 0, 8, 8, new byte[8 * 8 * 3]),
                    turn("s", "too-long", huge.toString(), 8),
                    event("s", "unknown", new Sampling(0f, 0, 1f, 1f, 1L)),
                    turn("s", "negative", "hi", -1),
                    turn("s", "billion", "hi", 1_000_000_000),
                    sampled("s", "hot", new Sampling(Float.NaN, 0, 1f, 1f, 1L)),
                    sampled("s", "top-p", new Sampling(0.7f, 0, 1.5f, 1f, 1L)),
                    sampled("s", "top-k", new Sampling(0.7f, -3, 1f, 1f, 1L)),
                    sampled("s", "penalty", new Sampling(0.7f, 0, 1f, 0f, 1L)),
                    turn("s", "e1", "a duplicate id", 8),
                    turn("s", "e2", QUESTION, 8));
            List<ResponseEvent> out = h.output();
            Map<String, ErrorEvent> errors = Responses.errors(out);
            assertThat(errors).containsOnlyKeys(
                    "bad-frame", "too-long", "unknown", "negative", "billion", "hot", "top-p", "top-k", "penalty");
            assertThat(errors.get("bad-frame").getCode()).isEqualTo(ErrorCode.INVALID_REQUEST);
            assertThat(errors.get("bad-frame").getMessage()).contains("Frame 0 is 8x8");
            assertThat(errors.get("too-long").getCode()).isEqualTo(ErrorCode.CONTEXT_OVERFLOW);
            assertThat(errors.get("too-long").getMessage()).contains("(context ");
            assertThat(errors.get("unknown").getCode()).isEqualTo(ErrorCode.INVALID_REQUEST);
            assertThat(errors.get("negative").getMessage()).contains("max_new_tokens must be >= 0");
            assertThat(errors.get("billion").getMessage()).contains("max_new_tokens 1000000000 is more than");
            assertThat(errors.get("hot").getMessage()).contains("temperature");
            assertThat(errors.get("top-p").getMessage()).contains("top-p");
            assertThat(errors.get("top-k").getMessage()).contains("top-k");
            assertThat(errors.get("penalty").getMessage()).contains("repetition penalty");
            for (String id : List.of("negative", "billion", "hot", "top-p", "top-k", "penalty")) {
                assertThat(errors.get(id).getCode()).as(id).isEqualTo(ErrorCode.INVALID_REQUEST);
            }
            assertThat(finalIds(out)).containsExactly("e1", "e2");
            assertThat(Responses.finals(out).get("e2").getText()).isEqualTo("white");
        }
    }

    @Test
    void theInFlightLimitHoldsForNewEventsAndForSessionsResumedAfterARestore() throws Exception {
        io.kvstream.schema.SessionEvent[] turns = new io.kvstream.schema.SessionEvent[6];
        for (int i = 0; i < turns.length; i++) {
            turns[i] = turn("s" + i, "e" + i, REPEAT, 12);
        }
        Map<String, FinalResponse> unlimited;
        try (Harness h = new Harness(config("kivi2"))) {
            unlimited = Responses.finals(h.sendAndDrain(turns).output());
        }
        PipelineConfig two = config("kivi2").toBuilder().maxInFlight(2).build();
        try (Harness h = new Harness(two)) {
            // All at once: taking the third waits in the mailbox until one of the first two finishes.
            Map<String, FinalResponse> limited = Responses.finals(h.send(turns).drain().output());
            assertThat(h.operator().mostInFlight()).isEqualTo(2);
            assertThat(limited.keySet()).isEqualTo(unlimited.keySet());
            limited.forEach((id, r) -> assertThat(r.getText()).as(id).isEqualTo(unlimited.get(id).getText()));
        }
        OperatorSubtaskState snapshot;
        List<ResponseEvent> before;
        try (Harness h = new Harness(config("kivi2"))) {
            h.send(turns).runMails(2);
            assertThat(h.operator().mostInFlight()).isEqualTo(turns.length);
            before = h.output();
            snapshot = h.snapshot(1);
        }
        try (Harness h = new Harness(config("kivi2").toBuilder().maxInFlight(1).build(), snapshot)) {
            Map<String, FinalResponse> resumed = Responses.finals(h.drain().output());
            assertThat(h.operator().mostInFlight()).as("restored sessions resume one at a time").isEqualTo(1);
            assertThat(Responses.finals(before)).isEmpty();
            assertThat(resumed.keySet()).isEqualTo(unlimited.keySet());
            resumed.forEach((id, r) -> assertThat(r.getText()).as(id).isEqualTo(unlimited.get(id).getText()));
        }
    }

    @Test
    void anIdleSessionIsFreedAndToldSoAlsoAfterARestoreWhileAnActiveOneIsKept() throws Exception {
        PipelineConfig config = config("kivi2").toBuilder().idleTimeout(java.time.Duration.ofSeconds(60)).build();
        OperatorSubtaskState snapshot;
        try (Harness h = new Harness(config)) {
            h.at(1_000).sendAndDrain(turn("a", "a1", FACT, 8));
            h.at(30_000).sendAndDrain(turn("b", "b1", FACT, 8));
            h.at(60_000);
            assertThat(closed(h.output())).as("not idle for a full minute yet").isEmpty();
            snapshot = h.snapshot(1);
        }
        try (Harness h = new Harness(config, snapshot)) {
            // The timers came back with the state.
            h.at(61_001);
            assertThat(closed(h.output())).containsOnlyKeys("a");
            ResponseEvent a = closed(h.output()).get("a");
            assertThat(a.getEventId()).isEqualTo("a1");
            assertThat(((SessionClosed) a.getPayload()).getReason()).isEqualTo(CloseReason.IDLE);
            assertThat(((SessionClosed) a.getPayload()).getIdleMs()).isEqualTo(60_000L);
            assertThat(h.operator().metrics().expiredSessions.getCount()).isEqualTo(1);
            h.at(62_000).sendAndDrain(turn("a", "a2", QUESTION, 8), turn("b", "b2", QUESTION, 8));
            Map<String, FinalResponse> finals = Responses.finals(h.output());
            assertThat(finals.get("a2").getUsage().getCachedTokens()).as("a starts anew").isZero();
            assertThat(finals.get("b2").getUsage().getCachedTokens()).as("b kept its cache").isPositive();
            assertThat(finals.get("b2").getText()).isEqualTo("white");
            h.sendAndDrain(end("b", "b-end"));
            ResponseEvent b = closed(h.output()).get("b");
            assertThat(b.getEventId()).isEqualTo("b-end");
            assertThat(((SessionClosed) b.getPayload()).getReason()).isEqualTo(CloseReason.ENDED);
            // An ended session's timer is gone with it: nothing more fires for b.
            h.at(500_000);
            assertThat(h.output().stream().filter(r -> r.getPayload() instanceof SessionClosed).count())
                    .as("a idle (again, after a2), b ended").isEqualTo(3);
        }
    }

    private static Map<String, ResponseEvent> closed(List<ResponseEvent> out) {
        Map<String, ResponseEvent> bySession = new java.util.LinkedHashMap<>();
        for (ResponseEvent r : out) {
            if (r.getPayload() instanceof SessionClosed) {
                bySession.put(r.getSessionId(), r);
            }
        }
        return bySession;
    }

    private static io.kvstream.schema.SessionEvent sampled(String session, String id, Sampling sampling) {
        return event(session, id, UserTurn.newBuilder().setText("hi").setMaxNewTokens(4).setSampling(sampling).build());
    }

    @Test
    void aReturningSessionIsRestoredFromStateAndAnswersAsIfNeverEvicted() throws Exception {
        List<ResponseEvent> hot;
        try (Harness h = new Harness(config("kivi2"))) {
            hot = h.sendAndDrain(interleaved()).output();
            assertThat(h.operator().metrics().restoredSessions.getCount()).isZero();
        }
        List<ResponseEvent> cold;
        try (Harness h = new Harness(config("kivi2").toBuilder().hotSetBytes(1).build())) {
            cold = h.sendAndDrain(interleaved()).output();
            assertThat(h.operator().evictions()).isGreaterThan(0);
            assertThat(h.operator().metrics().restoredSessions.getCount()).isGreaterThan(0);
            assertThat(h.operator().hotSessions()).isZero();
        }
        FinalResponse returning = Responses.finals(cold).get("a2");
        assertThat(returning.getUsage().getCachedTokens()).isGreaterThan(0);
        assertThat(returning.getText()).isEqualTo("white");
        Map<String, FinalResponse> expected = Responses.finals(hot);
        Map<String, FinalResponse> actual = Responses.finals(cold);
        assertThat(actual.keySet()).isEqualTo(expected.keySet());
        for (String id : expected.keySet()) {
            assertThat(actual.get(id).getText()).as(id).isEqualTo(expected.get(id).getText());
            assertThat(actual.get(id).getUsage()).as(id).isEqualTo(expected.get(id).getUsage());
        }
    }

    @Test
    void stateThatDoesNotFitTheCacheIsRecomputedFromTheHistory() throws Exception {
        OperatorSubtaskState snapshot;
        try (Harness h = new Harness(config("kivi2"))) {
            h.sendAndDrain(context("s", "c1", "system", "answer briefly."), turn("s", "e1", FACT, 8));
            snapshot = h.snapshot(1);
        }
        // Blocks written by a kivi2 cache do not restore into an int8 one: recompute, answer anyway.
        try (Harness h = new Harness(config("int8"), snapshot)) {
            List<ResponseEvent> out = h.sendAndDrain(turn("s", "e2", QUESTION, 8)).output();
            FinalResponse f = Responses.finals(out).get("e2");
            assertThat(h.operator().metrics().recomputedSessions.getCount()).isEqualTo(1);
            assertThat(f.getUsage().getCachedTokens()).isZero();
            assertThat(f.getText()).isEqualTo("white");
            // The end of a session clears its state.
            h.sendAndDrain(end("s", "x"));
            assertThat(h.harness.numKeyedStateEntries()).isZero();
        }
    }

    @Test
    void stateOfAnotherModelIsNeverFedToAttention() throws Exception {
        byte[] rgb = new byte[16 * 16 * 3];
        new java.util.Random(5).nextBytes(rgb);
        OperatorSubtaskState snapshot;
        try (Harness h = new Harness(config("kivi2"))) {
            h.sendAndDrain(turn("t", "t1", FACT, 8), frame("v", "f0", 0, 16, 16, rgb));
            snapshot = h.snapshot(1);
        }
        // The same shapes and spec, other weights: the blocks would restore without any error.
        PipelineConfig f16 = TestModels.refmodel("refmodel-f16.gguf", "kivi2").build();
        Map<String, FinalResponse> fresh;
        try (Harness h = new Harness(f16)) {
            fresh = Responses.finals(h.sendAndDrain(turn("t", "t1", FACT, 8), turn("t", "t2", QUESTION, 8)).output());
        }
        try (Harness h = new Harness(f16, snapshot)) {
            List<ResponseEvent> out = h.sendAndDrain(
                    turn("t", "t2", QUESTION, 8), query("v", "q1", "what is in frame 0?", 8)).output();
            FinalResponse t2 = Responses.finals(out).get("t2");
            assertThat(t2.getUsage().getCachedTokens()).as("recomputed, not restored").isZero();
            assertThat(t2.getText()).isEqualTo(fresh.get("t2").getText());
            assertThat(h.operator().metrics().recomputedSessions.getCount()).isEqualTo(1);
            assertThat(h.operator().metrics().restoredSessions.getCount()).isZero();
            ErrorEvent video = Responses.errors(out).get("q1");
            assertThat(video.getMessage()).contains("another model", "video frames", "reset");
            assertThat(h.operator().metrics().lostSessions.getCount()).isEqualTo(1);
        }
        // Under the model that wrote it, the same state restores and is used.
        try (Harness h = new Harness(config("kivi2"), snapshot)) {
            FinalResponse t2 = Responses.finals(h.sendAndDrain(turn("t", "t2", QUESTION, 8)).output()).get("t2");
            assertThat(t2.getUsage().getCachedTokens()).isPositive();
            assertThat(h.operator().metrics().restoredSessions.getCount()).isEqualTo(1);
        }
    }

    @Test
    void aVideoSessionWhoseStateCannotBeReadIsResetWithAnErrorNotRecomputed() throws Exception {
        byte[] rgb = new byte[16 * 16 * 3];
        new java.util.Random(3).nextBytes(rgb);
        OperatorSubtaskState snapshot;
        try (Harness h = new Harness(config("kivi2"))) {
            h.sendAndDrain(frame("v", "f0", 0, 16, 16, rgb));
            snapshot = h.snapshot(1);
        }
        // Its frames went in as patch embeddings: the token history cannot bring them back.
        try (Harness h = new Harness(config("int8"), snapshot)) {
            List<ResponseEvent> out = h.sendAndDrain(
                    io.kvstream.pipeline.Events.query("v", "q1", "what was shown at t=0?", 4),
                    io.kvstream.pipeline.Events.query("v", "q2", "what was shown at t=0?", 4)).output();
            io.kvstream.schema.ErrorEvent error = out.stream()
                    .filter(r -> r.getEventId().equals("q1") && r.getPayload() instanceof io.kvstream.schema.ErrorEvent)
                    .map(r -> (io.kvstream.schema.ErrorEvent) r.getPayload())
                    .findFirst().orElseThrow();
            assertThat(error.getMessage()).contains("video frames", "reset");
            assertThat(Responses.finals(out)).doesNotContainKey("q1");
            assertThat(h.operator().metrics().lostSessions.getCount()).isEqualTo(1);
            assertThat(h.operator().metrics().recomputedSessions.getCount()).isZero();
            // The session goes on, empty: the next event is answered from nothing cached.
            assertThat(Responses.finals(out).get("q2").getUsage().getCachedTokens()).isZero();
        }
    }

    @Test
    void fromIdleTheFirstStepWaitsForAFullBatchOrTheMaxWait() throws Exception {
        PipelineConfig waiting = config("full").toBuilder()
                .maxSequences(2).maxWait(java.time.Duration.ofSeconds(30)).build();
        try (Harness h = new Harness(waiting)) {
            h.send(turn("a", "a1", FACT, 4)).drain();
            assertThat(h.operator().stepsRun()).isZero();
            // A second session fills the batch: both start together.
            h.send(turn("b", "b1", FACT, 4)).drain();
            assertThat(Responses.finals(h.output())).containsOnlyKeys("a1", "b1");

            h.send(turn("a", "a2", QUESTION, 4)).drain();
            assertThat(Responses.finals(h.output())).doesNotContainKey("a2");
            // Alone, it starts when the wait is over.
            h.harness.setProcessingTime(h.harness.getProcessingTime() + 30_000);
            h.drain();
            assertThat(Responses.finals(h.output()).get("a2").getText()).isEqualTo("white");
        }
    }

    @Test
    void unchangedVideoPatchesAreDroppedAsTheSpecSays() throws Exception {
        byte[] rgb = new byte[16 * 16 * 3];
        new java.util.Random(7).nextBytes(rgb);
        io.kvstream.schema.SessionEvent[] video = {
            frame("v", "f0", 0, 16, 16, rgb),
            frame("v", "f1", 1, 16, 16, rgb.clone()),
            io.kvstream.pipeline.Events.query("v", "q", "what was shown at t=1?", 4),
        };
        FinalResponse kept;
        FinalResponse dropped;
        try (Harness h = new Harness(config("full"))) {
            kept = Responses.finals(h.sendAndDrain(video).output()).get("q");
        }
        try (Harness h = new Harness(config("full+dtd:threshold=8"))) {
            dropped = Responses.finals(h.sendAndDrain(video).output()).get("q");
        }
        // Frames answer nothing; the query finds both in the cache, the second without its 16 patches.
        assertThat(kept).isNotNull();
        assertThat(kept.getUsage().getCachedTokens() - dropped.getUsage().getCachedTokens()).isEqualTo(16);
    }

    private static io.kvstream.schema.SessionEvent[] interleaved() {
        return new io.kvstream.schema.SessionEvent[] {
            turn("a", "a1", FACT, 8),
            turn("b", "b1", "my lucky number is 94842.", 8),
            turn("a", "a2", QUESTION, 8),
            turn("b", "b2", "what is my lucky number?", 8),
        };
    }

    private static List<String> finalIds(List<ResponseEvent> out) {
        return new ArrayList<>(Responses.finals(out).keySet());
    }

    private static int firstIndexOf(List<ResponseEvent> out, String eventId) {
        for (int i = 0; i < out.size(); i++) {
            if (out.get(i).getEventId().equals(eventId)) {
                return i;
            }
        }
        return -1;
    }

    private static int lastIndexOf(List<ResponseEvent> out, String eventId) {
        for (int i = out.size() - 1; i >= 0; i--) {
            if (out.get(i).getEventId().equals(eventId)) {
                return i;
            }
        }
        return -1;
    }
}
