package io.kvstream.it.reliability;

import io.kvstream.client.EvalEvents;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.connect.serde.KeyedKafkaSerializer;
import io.kvstream.local.LocalStack;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.codec.KvstreamCodecs;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Garbage on the events topic must cost the job nothing (issue #10, point 6): 10,000 random,
 * truncated and bit-flipped records and records with unknown schema fingerprints, among valid
 * chat turns of a few sessions, plus an event without a session id and one keyed by another
 * session. Every valid turn is answered exactly once, nothing else is in the responses, every
 * bad record is a dead letter (byte for byte, the two bad events with their problem named), and
 * the job serves on. The black-box twin of this test is {@code bench/blackbox/serve_fuzz.py}.
 *
 * <p>Broken on purpose ({@code RecordCheck.none()} instead of {@code SessionEventCheck} in
 * {@code KvstreamKafka.eventSourceBuilder}), it fails: the two bad events reach the operator and
 * are answered, "[responses to events that are not valid requests] Expecting empty but was:
 * ["fuzz-s0/830d…: {"text": "ok.", …}", "/cdc4…: {"text": "ok.", …}"]" (an answer under the
 * other session, and one to a session without a name).
 */
class FuzzTest {

    private static final int FUZZ = 10_000;
    private static final int SESSIONS = 6;
    private static final List<String> FACTS = List.of("my lucky number is 4711.", "my locker code is 3381.",
            "my pet is called rex.", "my favorite color is white.");
    private static final List<String> QUESTIONS = List.of("what is my lucky number?", "what is my locker code?",
            "what is my pet called?", "what is my favorite color?");

    /** A record to send: its key and value. */
    private record Rec(byte[] key, byte[] value) {}

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void garbageIsDeadLetteredAndEveryValidTurnAnsweredOnce(@TempDir Path tmp) throws Exception {
        Random rnd = new Random(7);
        PipelineConfig config = RefModelJob.config();
        try (LocalStack stack = LocalStack.start(RefModelJob.settings(tmp), Pipeline.job(config));
                OutputLog out = new OutputLog(stack.kafkaConfig())) {
            KvstreamKafkaConfig kafka = stack.kafkaConfig();
            // Valid turns: a fact, then its question, per session.
            Map<String, List<Rec>> bySession = new LinkedHashMap<>();
            List<String> valid = new ArrayList<>();
            for (int s = 0; s < SESSIONS; s++) {
                String session = "fuzz-s" + s;
                int fact = s % FACTS.size();
                for (String text : List.of(FACTS.get(fact), QUESTIONS.get(fact))) {
                    SessionEvent e = SessionEventProducer.newEvent(session, EvalEvents.userTurn(text, 8));
                    valid.add(e.getEventId());
                    bySession.computeIfAbsent(session, k -> new ArrayList<>()).add(record(session, e));
                }
            }
            byte[] sample = KvstreamCodecs.sessionEvents().encode(
                    SessionEventProducer.newEvent("fuzz-sample", EvalEvents.userTurn(FACTS.get(0), 8)));
            Map<String, byte[]> fuzz = new HashMap<>();
            List<Rec> stream = new ArrayList<>();
            for (int i = 0; i < FUZZ; i++) {
                byte[] value = fuzzed(i % 4, sample, rnd);
                fuzz.put("fuzz-" + i, value);
                stream.add(new Rec(("fuzz-" + i).getBytes(StandardCharsets.UTF_8), value));
            }
            // The two events the source's check must name.
            SessionEvent noSession = SessionEventProducer.newEvent("", EvalEvents.userTurn("hi", 8));
            stream.add(new Rec(new byte[0], KvstreamCodecs.sessionEvents().encode(noSession)));
            SessionEvent otherKey = SessionEventProducer.newEvent("fuzz-s0", EvalEvents.userTurn("hi", 8));
            stream.add(new Rec("someone-else".getBytes(StandardCharsets.UTF_8),
                    KvstreamCodecs.sessionEvents().encode(otherKey)));
            send(kafka, interleave(stream, bySession, rnd));

            out.awaitUntil(() -> valid.stream().allMatch(out::answered) && out.deadLetters().size() >= FUZZ,
                    Duration.ofSeconds(120), () -> valid.stream().filter(id -> !out.answered(id)).count()
                            + " valid turns unanswered, " + out.deadLetters().size() + " dead letters");
            // The job still serves.
            SessionEvent last = SessionEventProducer.newEvent("fuzz-last", EvalEvents.userTurn(QUESTIONS.get(0), 8));
            send(kafka, List.of(record("fuzz-last", last)));
            out.awaitUntil(() -> out.answered(last.getEventId()), Duration.ofSeconds(60), () -> "the last turn");
            out.catchUp(Duration.ofSeconds(30));

            for (String id : valid) {
                assertThat(out.finals(id)).as("final responses to valid event %s", id).hasSize(1);
            }
            Set<String> asked = new HashSet<>(valid);
            asked.add(last.getEventId());
            List<String> unasked = new ArrayList<>();
            for (ResponseEvent r : out.responses()) {
                if (!asked.contains(r.getEventId())) {
                    unasked.add(r.getSessionId() + "/" + r.getEventId() + ": " + r.getPayload());
                }
            }
            assertThat(unasked).as("responses to events that are not valid requests").isEmpty();

            // The sinks commit one after the other: the last two dead letters may lag the answers.
            out.awaitUntil(() -> out.deadLetters().size() >= FUZZ + 2, Duration.ofSeconds(10),
                    () -> out.deadLetters().size() + " dead letters, not " + (FUZZ + 2));
            out.catchUp(Duration.ofSeconds(30));
            assertThat(out.deadLetters()).hasSize(FUZZ + 2);
            int kept = 0;
            for (DeadLetter d : out.deadLetters()) {
                byte[] want = fuzz.get(new String(bytes(d.getKey()), StandardCharsets.UTF_8));
                if (want != null && java.util.Arrays.equals(bytes(d.getValue()), want)) {
                    kept++;
                }
            }
            assertThat(kept).as("fuzzed records kept byte for byte").isEqualTo(FUZZ);
            assertThat(out.deadLetters()).anySatisfy(d -> assertThat(d.getError()).contains("empty session_id"));
            assertThat(out.deadLetters()).anySatisfy(d -> assertThat(d.getError())
                    .contains("Kafka key 'someone-else' differs from session_id 'fuzz-s0'"));
        }
    }

    /** Random bytes, a truncated event, a flipped header bit, or an unknown schema fingerprint. */
    private static byte[] fuzzed(int kind, byte[] sample, Random rnd) {
        switch (kind) {
            case 0: {
                byte[] b = new byte[rnd.nextInt(201)];
                rnd.nextBytes(b);
                return b;
            }
            case 1:
                return java.util.Arrays.copyOf(sample, rnd.nextInt(sample.length));
            case 2: {
                byte[] b = sample.clone();
                b[rnd.nextInt(10)] ^= (byte) (1 << rnd.nextInt(8));
                return b;
            }
            default: {
                byte[] b = sample.clone();
                ByteBuffer.wrap(b, 2, 8).putLong(rnd.nextLong());
                return b;
            }
        }
    }

    /** Shuffles everything, keeping each session's turns in the order they were made. */
    private static List<Rec> interleave(List<Rec> bad, Map<String, List<Rec>> bySession, Random rnd) {
        List<Object> slots = new ArrayList<>(bad);
        bySession.forEach((session, turns) -> turns.forEach(t -> slots.add(session)));
        Collections.shuffle(slots, rnd);
        Map<String, Integer> next = new HashMap<>();
        List<Rec> out = new ArrayList<>(slots.size());
        for (Object slot : slots) {
            if (slot instanceof String session) {
                out.add(bySession.get(session).get(next.merge(session, 1, Integer::sum) - 1));
            } else {
                out.add((Rec) slot);
            }
        }
        return out;
    }

    private static Rec record(String session, SessionEvent e) {
        return new Rec(KeyedKafkaSerializer.sessionKey(session), KvstreamCodecs.sessionEvents().encode(e));
    }

    /** One idempotent producer: a session's records stay in the order sent. */
    private static void send(KvstreamKafkaConfig kafka, List<Rec> records) throws Exception {
        Properties props = kafka.clientProperties(KvstreamKafkaConfig.Client.PRODUCER);
        props.setProperty(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.setProperty(ProducerConfig.ACKS_CONFIG, "all");
        props.setProperty(ProducerConfig.LINGER_MS_CONFIG, "20");
        try (KafkaProducer<byte[], byte[]> p =
                new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (Rec r : records) {
                p.send(new ProducerRecord<>(kafka.eventsTopic(), r.key(), r.value()));
            }
            p.flush();
        }
    }

    private static byte[] bytes(ByteBuffer b) {
        if (b == null) {
            return new byte[0];
        }
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }
}
