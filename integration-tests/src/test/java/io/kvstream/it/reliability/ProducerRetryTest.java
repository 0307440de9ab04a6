package io.kvstream.it.reliability;

import io.kvstream.client.EvalEvents;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.serde.KeyedKafkaSerializer;
import io.kvstream.local.LocalStack;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.codec.KvstreamCodecs;
import io.kvstream.connect.client.SessionEventProducer;

import org.apache.flink.runtime.checkpoint.RestoredCheckpointStats;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A client that sends an event again (its producer retried, or the application did, after a
 * timeout) gets one answer, not two (issue #10, point 6): the job drops an event whose id the
 * session has seen. The ids seen are keyed state, so this holds across a failure too: the task
 * manager is killed, the job restarts from its last checkpoint, and the same event sent a third
 * time is still not answered.
 *
 * <p>The events are sent as raw records, byte for byte the same each time, as a retry is: not
 * through {@code SessionEventProducer}, whose idempotence would hide a retry from the job.
 *
 * <p>Broken on purpose, it fails:
 * <ul>
 *   <li>no deduplication ({@code SessionInferenceOperator.remember} never finding an id): "[final
 *       responses to the event sent twice] Expected size: 1 but was: 2";
 *   <li>the ids seen kept in a field of the operator instead of keyed state, so a restart forgets
 *       them: "[final responses to the event sent three times] Expected size: 1 but was: 2".
 * </ul>
 */
class ProducerRetryTest {

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void anEventSentAgainIsAnsweredOnceAlsoAfterARestartFromACheckpoint(@TempDir Path tmp) throws Exception {
        // Restarts allowed: the test kills the task manager and the job must come back.
        LocalStack.Settings settings = RefModelJob.settings(tmp).restartAttempts(3);
        try (LocalStack stack = LocalStack.start(settings, Pipeline.job(RefModelJob.config()));
                OutputLog out = new OutputLog(stack.kafkaConfig())) {
            KvstreamKafkaConfig kafka = stack.kafkaConfig();
            SessionEvent fact = event("my lucky number is 4711.");
            SessionEvent ask = event("what is my lucky number?");
            send(kafka, fact, fact, ask);
            // A session's events are served in order: once the question is answered, so is the repeat.
            out.awaitUntil(() -> out.answered(ask.getEventId()), Duration.ofSeconds(60), () -> "the question");
            out.catchUp(Duration.ofSeconds(30));
            assertThat(out.finals(fact.getEventId())).as("final responses to the event sent twice").hasSize(1);
            assertThat(out.answer(ask.getEventId())).isEqualTo("4711");

            // The answer is visible once the checkpoint holding its state completed: a restart
            // from now on restores the ids the session has seen.
            long completed = stack.checkpoints().completed();
            stack.miniCluster().terminateTaskManager(0).get(60, TimeUnit.SECONDS);
            stack.miniCluster().startTaskManager();
            SessionEvent again = event("what is my lucky number?");
            send(kafka, fact, again);
            out.awaitUntil(() -> out.answered(again.getEventId()), Duration.ofSeconds(120),
                    () -> "the question after the restart");
            out.catchUp(Duration.ofSeconds(30));
            RestoredCheckpointStats restored = stack.miniCluster().getExecutionGraph(stack.jobId())
                    .get(10, TimeUnit.SECONDS).getCheckpointStatsSnapshot().getLatestRestoredCheckpoint();
            assertThat(restored).as("the checkpoint the job restarted from").isNotNull();
            assertThat(out.finals(fact.getEventId())).as("final responses to the event sent three times").hasSize(1);
            assertThat(out.finals(ask.getEventId())).hasSize(1);
            assertThat(out.finals(again.getEventId())).hasSize(1);
            assertThat(out.answer(again.getEventId())).isEqualTo("4711");
            System.out.printf("ProducerRetryTest: %d checkpoints before the kill, restarted from checkpoint %d%n",
                    completed, restored.getCheckpointId());
        }
    }

    private static SessionEvent event(String text) {
        return SessionEventProducer.newEvent("retry", EvalEvents.userTurn(text, 8));
    }

    /** Each event as its record, in order, by one producer. */
    private static void send(KvstreamKafkaConfig kafka, SessionEvent... events) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                kafka.clientProperties(KvstreamKafkaConfig.Client.PRODUCER),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            for (SessionEvent e : events) {
                p.send(new ProducerRecord<>(kafka.eventsTopic(), KeyedKafkaSerializer.sessionKey(e.getSessionId()),
                        KvstreamCodecs.sessionEvents().encode(e))).get();
            }
        }
    }
}
