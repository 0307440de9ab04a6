package io.kvstream.it.reliability;

import static io.kvstream.it.reliability.Pipeline.FACT;
import static io.kvstream.it.reliability.Pipeline.QUESTION;
import static io.kvstream.it.reliability.Pipeline.turn;
import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.local.LocalStack;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.pipeline.operator.FailureHooks;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.testing.FailingBackend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Issue #10, point 6: a failure in the middle of serving (an Error out of the forward pass, or a
 * failed checkpoint) restarts the job from its last checkpoint, and every request still gets
 * exactly one final answer, the one a run without failure gives, under exactly-once delivery
 * read with {@code read_committed}. Sampling is seeded at temperature 2.5, so a rerun that drew
 * other tokens, or a lost or repeated request, shows.
 *
 * <p>Broken on purpose ({@code kvstream.delivery=at-least-once} in {@link Pipeline#settings}, the
 * reader still {@code read_committed}), both cases fail with "Event a1: expected exactly one final
 * response, got [{... "text": "noted." ...}, {... "text": "noted." ...}]": the answers written
 * before the failure are not rolled back, and the rerun writes them again.
 */
class InjectedFailureTest {

    private static final List<String> SESSIONS = List.of("a", "b", "c");

    @AfterEach
    void noMoreFailures() {
        FailureHooks.reset();
    }

    private static PipelineConfig config() {
        return Pipeline.config("refmodel-q8_0.gguf", "kivi2").build();
    }

    private static SessionEvent[] events() {
        List<SessionEvent> events = new ArrayList<>();
        for (int i = 0; i < SESSIONS.size(); i++) {
            String s = SESSIONS.get(i);
            events.add(turn(s, s + "1", FACT, 12, 100 + i));
            events.add(turn(s, s + "2", QUESTION, 12, 200 + i));
        }
        return events.toArray(SessionEvent[]::new);
    }

    private static List<String> ids() {
        List<String> ids = new ArrayList<>();
        for (SessionEvent e : events()) {
            ids.add(e.getEventId());
        }
        return ids;
    }

    /** Runs the events through a fresh stack; returns the text of each event's one answer. */
    private static Map<String, String> run(Path tmp) throws Exception {
        try (LocalStack stack = Pipeline.start(tmp, config(), 3)) {
            Pipeline.send(stack.kafkaConfig(), events());
            Map<String, List<ResponseEvent>> answers =
                    Pipeline.answers(stack.kafkaConfig(), ids(), Duration.ofSeconds(60), Duration.ofSeconds(2));
            assertThat(answers).containsOnlyKeys(ids());
            Map<String, String> texts = new LinkedHashMap<>();
            for (String id : ids()) {
                texts.put(id, Pipeline.text(answers, id));
            }
            return texts;
        }
    }

    private static Map<String, String> reference(Path tmp) throws Exception {
        AtomicInteger opens = new AtomicInteger();
        FailureHooks.decorateBackend(b -> {
            opens.incrementAndGet();
            return b;
        });
        Map<String, String> reference = run(tmp.resolve("reference"));
        assertThat(opens.get()).as("no restart without a failure").isEqualTo(1);
        // Seeded sampling, not greedy: the same turns draw different answers in different sessions.
        assertThat(new java.util.HashSet<>(List.of(reference.get("a2"), reference.get("b2"), reference.get("c2"))))
                .as("second turns %s", reference).hasSizeGreaterThan(1);
        return reference;
    }

    @Test
    void anErrorInTheForwardPassRestartsTheJobAndEveryRequestIsAnsweredOnceAsWithoutIt(@TempDir Path tmp)
            throws Exception {
        Map<String, String> reference = reference(tmp);
        AtomicInteger opens = new AtomicInteger();
        AtomicInteger crashes = new AtomicInteger();
        FailureHooks.decorateBackend(b -> {
            opens.incrementAndGet();
            // Once, at the first prefill of a second turn: a first turn was answered (written to
            // Kafka, not yet committed), other sessions may be generating.
            return new FailingBackend(b, batch -> batch.stream()
                            .anyMatch(step -> step.cache().tokens() > 0 && step.count() > 1)
                            && crashes.compareAndSet(0, 1),
                    () -> new Error("injected: the forward pass crashed"));
        });
        Map<String, String> got = run(tmp.resolve("failing"));
        assertThat(opens.get()).as("the task failed and was restarted").isEqualTo(2);
        assertThat(got).isEqualTo(reference);
    }

    @Test
    void aFailedCheckpointRestartsTheJobAndEveryRequestIsAnsweredOnceAsWithoutIt(@TempDir Path tmp)
            throws Exception {
        Map<String, String> reference = reference(tmp);
        AtomicInteger opens = new AtomicInteger();
        AtomicInteger steps = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        FailureHooks.decorateBackend(b -> {
            opens.incrementAndGet();
            return new FailingBackend(b, batch -> {
                steps.incrementAndGet();
                return false;
            }, () -> new AssertionError("never"));
        });
        // The first snapshot after serving began fails: what was answered since the checkpoint
        // before must be neither lost nor committed twice.
        FailureHooks.onSnapshot(id -> {
            if (steps.get() > 0 && failed.compareAndSet(0, 1)) {
                throw new IllegalStateException("injected: snapshot " + id + " failed");
            }
        });
        Map<String, String> got = run(tmp.resolve("failing"));
        assertThat(failed.get()).as("a snapshot failed").isEqualTo(1);
        assertThat(opens.get()).as("the failed checkpoint failed the job, which was restarted").isEqualTo(2);
        assertThat(got).isEqualTo(reference);
    }
}
