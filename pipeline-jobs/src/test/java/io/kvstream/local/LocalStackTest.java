package io.kvstream.local;

import io.kvstream.pipeline.testing.CheckpointFiles;

import io.kvstream.client.ChatLoop;
import io.kvstream.client.ChatSession;
import io.kvstream.client.EvalEvents;
import io.kvstream.client.ReplayCommand;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.connect.client.DeadLetterReader;
import io.kvstream.schema.DeadLetter;
import org.apache.flink.api.common.JobStatus;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The stack's own wiring, with a model-free job: Kafka, topics, job, state, checkpoints, shutdown. */
class LocalStackTest {

    @Test
    void answersThroughKafkaKeepsStateRoutesDeadLettersAndShutsDown(@TempDir Path tmp) throws Exception {
        Path checkpoints = tmp.resolve("checkpoints");
        LocalStack stack = LocalStack.start(
                new LocalStack.Settings().checkpointDir(checkpoints).checkpointInterval(Duration.ofMillis(300))
                        .restartAttempts(0),
                new EchoJob());
        KvstreamKafkaConfig config = stack.kafkaConfig();
        try (stack; SessionEventProducer producer = SessionEventProducer.create(config)) {
            assertThat(stack.jobStatus()).isEqualTo(JobStatus.RUNNING);
            try (Admin admin = Admin.create(config.clientProperties(KvstreamKafkaConfig.Client.ADMIN))) {
                assertThat(admin.listTopics().names().get())
                        .contains(config.eventsTopic(), config.responsesTopic(), config.deadLettersTopic());
            }
            try (ChatSession session = new ChatSession(config, producer, "s1", Duration.ofSeconds(60))) {
                List<String> streamed = new ArrayList<>();
                ChatSession.Reply first = session.ask(EvalEvents.userTurn("hello", 8), streamed::add);
                assertThat(first.text()).isEqualTo("#1 hello");
                assertThat(streamed).containsExactly("#1 hello");
                // A record nobody can decode must not stop the job.
                sendGarbage(config);
                assertThat(session.ask(EvalEvents.userTurn("again", 8), t -> {}).text()).isEqualTo("#2 again");
            }
            // The interactive loop: a line is a turn, /new starts a session whose state starts over.
            java.io.ByteArrayOutputStream screen = new java.io.ByteArrayOutputStream();
            String[] ids = {"loop-a", "loop-b"};
            int[] next = {0};
            new ChatLoop(config, producer, text -> EvalEvents.userTurn(text, 8), Duration.ofSeconds(60),
                    ChatLoop.NO_COMMANDS).run(
                    new java.io.BufferedReader(new java.io.StringReader("one\ntwo\n/new\nthree\n/quit\nnever\n")),
                    new java.io.PrintStream(screen, true, StandardCharsets.UTF_8), () -> ids[next[0]++]);
            String shown = screen.toString(StandardCharsets.UTF_8);
            assertThat(shown).contains("session loop-a", "#1 one", "#2 two", "session loop-b", "#1 three")
                    .contains("[ttft 1 ms").doesNotContain("never");
            DeadLetter dead = readDeadLetter(config);
            assertThat(new String(bytes(dead.getValue()), StandardCharsets.UTF_8)).isEqualTo("not avro");
            assertThat(dead.getTopic()).isEqualTo(config.eventsTopic());
            // Keyed state went through RocksDB into checkpoints in the folder asked for.
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (completedCheckpoints(checkpoints) == 0 && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            assertThat(completedCheckpoints(checkpoints)).isPositive();
        }
        assertThat(stack.miniCluster().isRunning()).isFalse();
        Properties props = config.clientProperties(KvstreamKafkaConfig.Client.ADMIN);
        props.setProperty("default.api.timeout.ms", "2000");
        props.setProperty("request.timeout.ms", "1000");
        try (Admin admin = Admin.create(props)) {
            assertThatThrownBy(() -> admin.listTopics().names().get()).hasMessageContaining("Timed out");
        }
    }

    @Test
    void replayWritesEvalsSummaryAndAnswersPlusPipelineFigures(@TempDir Path tmp) throws Exception {
        Path data = io.kvstream.testing.RefModel.file("eval-shared.jsonl");
        try (LocalStack stack = LocalStack.start(
                new LocalStack.Settings().checkpointDir(tmp.resolve("cp")).restartAttempts(0), new EchoJob())) {
            ReplayCommand.ReplayOptions o = new ReplayCommand.ReplayOptions();
            o.limit = 3;
            o.sessions = 2;
            o.json = tmp.resolve("replay.json");
            o.answers = tmp.resolve("answers.jsonl");
            java.io.ByteArrayOutputStream printed = new java.io.ByteArrayOutputStream();
            int rc = ReplayCommand.run(stack.kafkaConfig(), data, o, "echo", "none",
                    new java.io.PrintStream(printed, true, StandardCharsets.UTF_8),
                    (summary, out) -> {
                        stack.miniCluster().triggerCheckpoint(stack.jobId()).get(60, java.util.concurrent.TimeUnit.SECONDS);
                        LocalStack.CheckpointCounts c = stack.checkpoints();
                        out.println("checkpoints: " + c);
                        summary.put("checkpoints_completed", c.completed());
                        summary.put("checkpoint_state_bytes", c.lastStateBytes());
                    });
            assertThat(rc).isZero();
            assertThat(printed.toString(StandardCharsets.UTF_8))
                    .contains("chat     accuracy 0.000", "time to first token: p50");
            com.fasterxml.jackson.databind.JsonNode json =
                    new com.fasterxml.jackson.databind.ObjectMapper().readTree(o.json.toFile());
            assertThat(json.get("samples").asInt()).isEqualTo(3);
            assertThat(json.get("model").asText()).isEqualTo("echo");
            assertThat(json.has("kv_bytes_per_token")).isFalse();
            assertThat(json.get("pipeline").get("sessions").asInt()).isEqualTo(2);
            assertThat(json.get("pipeline").get("generated_tokens").asInt()).isEqualTo(6);
            assertThat(json.get("pipeline").get("ttft_ms_p50").asDouble()).isPositive();
            // The report runs after the replay and lands in both outputs.
            assertThat(json.get("checkpoints_completed").asLong()).isPositive();
            assertThat(json.get("checkpoint_state_bytes").asLong()).isPositive();
            assertThat(printed.toString(StandardCharsets.UTF_8)).contains("checkpoints: ", "completed, 0 failed");
            List<String> lines = Files.readAllLines(o.answers);
            assertThat(lines).hasSize(3);
            // The echo job answers the sample's question, its history went in as context only.
            assertThat(lines.get(0)).contains("\"index\":0", "\"output\":\"#1 what is my favorite color?\"");
        }
    }

    private static long completedCheckpoints(Path dir) throws Exception {
        return CheckpointFiles.completed(dir);
    }

    private static void sendGarbage(KvstreamKafkaConfig config) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                config.clientProperties(KvstreamKafkaConfig.Client.PRODUCER),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            p.send(new ProducerRecord<>(config.eventsTopic(), "s1".getBytes(StandardCharsets.UTF_8),
                    "not avro".getBytes(StandardCharsets.UTF_8))).get();
        }
    }

    static DeadLetter readDeadLetter(KvstreamKafkaConfig config) throws Exception {
        List<DeadLetter> dead = DeadLetterReader.read(config, 1, Duration.ofSeconds(60));
        if (dead.isEmpty()) {
            throw new AssertionError("no dead letter within 60 s");
        }
        return dead.get(0);
    }

    private static byte[] bytes(java.nio.ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }
}
