package io.kvstream.pipeline.operator;

import static io.kvstream.pipeline.Events.turn;
import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.pipeline.Responses;
import io.kvstream.pipeline.TestModels;
import io.kvstream.runtime.ForwardBackend;
import io.kvstream.schema.ErrorCode;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.testing.FailingBackend;

import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * One request that fails (an exception in the forward pass, or an error that takes the task down)
 * ends with an error of its own after its attempts, and every other session is answered as if it
 * had not been there.
 */
class RequestFailureTest {

    private static final String FACT = "my favorite color is white.";
    private static final String QUESTION = "what is my favorite color?";
    private static final String POISON = FailingBackend.POISON_TEXT;

    private static int imageToken;

    @BeforeAll
    static void findTheImageToken() throws Exception {
        imageToken = FailingBackend.imageToken();
    }

    @AfterEach
    void noMoreFailures() {
        SessionInferenceOperator.backendDecorator = b -> b;
    }

    private static PipelineConfig config() {
        return TestModels.refmodel("kivi2").maxAttempts(3).build();
    }

    private static SessionEvent[] firstTurns() {
        return new SessionEvent[] {
            turn("a", "a1", FACT, 8), turn("b", "b1", FACT, 8), turn("p", "p1", POISON, 8), turn("c", "c1", FACT, 8)
        };
    }

    private static SessionEvent[] secondTurns() {
        return new SessionEvent[] {
            turn("a", "a2", QUESTION, 8), turn("b", "b2", QUESTION, 8), turn("p", "p2", FACT, 8),
            turn("c", "c2", QUESTION, 8)
        };
    }

    @Test
    void aStepThatFailsEndsOnlyTheRequestThatFailsIt() throws Exception {
        Map<String, FinalResponse> expected = unpoisoned();
        AtomicInteger failures = new AtomicInteger();
        SessionInferenceOperator.backendDecorator =
                b -> poisoned(b, failures, () -> new IllegalStateException("injected"));
        try (Harness h = new Harness(config())) {
            // All at once, so the poison shares its first steps with the others.
            List<ResponseEvent> out = h.send(firstTurns()).drain().send(secondTurns()).drain().output();
            Map<String, FinalResponse> finals = Responses.finals(out);
            ErrorEvent poison = Responses.errors(out).get("p1");
            assertThat(poison.getCode()).isEqualTo(ErrorCode.INTERNAL);
            assertThat(poison.getMessage()).contains("forward step failed", "injected");
            assertThat(Responses.errors(out)).containsOnlyKeys("p1");
            assertThat(failures.get()).as("once shared, then on its own until its attempts ran out").isEqualTo(3);
            for (String s : List.of("a", "b", "c")) {
                assertThat(finals.get(s + "1").getText()).isEqualTo(expected.get("a1").getText());
                assertThat(finals.get(s + "2").getText()).as(s).isEqualTo(expected.get("a2").getText());
            }
            // The poisoned session goes on with its next event.
            assertThat(finals).containsKey("p2");
        }
    }

    @Test
    void aRequestThatTakesTheTaskDownIsSkippedAfterItsAttemptsAndNoOneElseIs() throws Exception {
        Map<String, FinalResponse> expected = unpoisoned();
        AtomicInteger failures = new AtomicInteger();
        SessionInferenceOperator.backendDecorator =
                b -> poisoned(b, failures, () -> new OutOfMemoryError("injected"));
        List<ResponseEvent> out = new ArrayList<>();
        Harness h = new Harness(config());
        h.send(firstTurns());
        OperatorSubtaskState state = h.snapshot(1);
        long checkpoint = 1;
        int crashes = 0;
        while (true) {
            try {
                // A checkpoint after every step: a restore loses no finished work.
                while (h.runMail()) {
                    state = h.snapshot(++checkpoint);
                }
                out.addAll(h.send(secondTurns()).drain().output());
                h.close();
                break;
            } catch (OutOfMemoryError e) {
                crashes++;
                out.addAll(h.output());
                // Closing a crashed harness finishes the operator, which runs the poisoned step again.
                int counted = failures.get();
                closeQuietly(h);
                failures.set(counted);
                assertThat(crashes).as("the crashes end").isLessThan(10);
                h = new Harness(config(), state);
                state = h.snapshot(++checkpoint);
            }
        }
        assertThat(crashes).isEqualTo(3);
        // Started three times (the first run and two restores), then answered and skipped.
        assertThat(failures.get()).isEqualTo(3);
        ErrorEvent poison = Responses.errors(out).get("p1");
        assertThat(poison.getMessage()).contains("failed 3 times");
        Map<String, FinalResponse> finals = Responses.finals(out);
        for (String s : List.of("a", "b", "c")) {
            assertThat(finals.get(s + "1").getText()).as(s).isEqualTo(expected.get("a1").getText());
            assertThat(finals.get(s + "2").getText()).as(s).isEqualTo(expected.get("a2").getText());
        }
        assertThat(finals).containsKey("p2");
    }

    /** What a session of the fact and the question answers without any poison about. */
    private static Map<String, FinalResponse> unpoisoned() throws Exception {
        try (Harness h = new Harness(config())) {
            return Responses.finals(h.sendAndDrain(turn("a", "a1", FACT, 8), turn("a", "a2", QUESTION, 8)).output());
        }
    }

    private static void closeQuietly(Harness h) {
        try {
            h.close();
        } catch (Throwable ignored) {
            // The harness of a crashed task: nothing left to check.
        }
    }

    /** Fails every forward step that carries the poison token, counting the failures. */
    private static ForwardBackend poisoned(
            ForwardBackend b, AtomicInteger failures, Supplier<? extends Throwable> failure) {
        return new FailingBackend(
                b, batch -> FailingBackend.carries(batch, imageToken) && failures.incrementAndGet() > 0, failure);
    }
}
