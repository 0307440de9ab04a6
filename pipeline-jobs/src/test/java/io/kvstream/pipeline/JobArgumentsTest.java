package io.kvstream.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.kvstream.connect.KvstreamKafkaConfig;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

class JobArgumentsTest {

    @Test
    void defaultsAreLocalModesTopicsExactlyOnceAndSlotSizedThreads() throws Exception {
        JobArguments a = JobArguments.parse("--model", "m.gguf");
        PipelineConfig config = a.pipeline();
        KvstreamKafkaConfig kafka = config.kafka();
        assertThat(kafka.bootstrapServers()).isEqualTo("localhost:9092");
        assertThat(kafka.eventsTopic()).isEqualTo("kvstream.events");
        assertThat(kafka.responsesTopic()).isEqualTo("kvstream.responses");
        assertThat(kafka.deadLettersTopic()).isEqualTo("kvstream.dead-letters");
        assertThat(kafka.delivery()).isEqualTo(KvstreamKafkaConfig.Delivery.EXACTLY_ONCE);
        assertThat(config.threads()).isZero();
        assertThat(config.device()).isEqualTo("auto");
        assertThat(config.kvSpec()).isEqualTo("full");
        // Relative paths are resolved where the job is submitted from.
        assertThat(Path.of(config.modelPath())).isAbsolute().hasFileName("m.gguf");
        assertThat(a.createTopics()).isTrue();
        assertThat(config.idleTimeout()).isEqualTo(java.time.Duration.ofMinutes(30));
    }

    @Test
    void everyOptionReachesTheConfig(@TempDir Path tmp) throws Exception {
        Path props = tmp.resolve("client.properties");
        Files.writeString(props, "security.protocol=SASL_SSL\nkvstream.topic.events=from-file\n");
        PipelineConfig config = JobArguments.parse(
                "--bootstrap", "broker:9093", "--kafka-config", props.toString(),
                "--events", "ev", "--responses", "re", "--dead-letters", "dl",
                "--delivery", "at-least-once", "--model", "s3://bucket/m.gguf", "--mmproj", "/abs/p.gguf",
                "--kv", "kivi2", "--device", "cpu", "--threads", "3", "--max-sequences", "8",
                "--max-step-tokens", "256", "--prefill-chunk", "64", "--max-wait-ms", "7",
                "--max-in-flight", "32", "--hot-set-mb", "16", "--recent-event-ids", "9",
                "--idle-timeout", "90 s").pipeline();
        KvstreamKafkaConfig kafka = config.kafka();
        assertThat(kafka.bootstrapServers()).isEqualTo("broker:9093");
        assertThat(kafka.eventsTopic()).as("the option wins over the file").isEqualTo("ev");
        assertThat(kafka.responsesTopic()).isEqualTo("re");
        assertThat(kafka.deadLettersTopic()).isEqualTo("dl");
        assertThat(kafka.rawClientProperties()).containsEntry("security.protocol", "SASL_SSL");
        assertThat(kafka.delivery()).isEqualTo(KvstreamKafkaConfig.Delivery.AT_LEAST_ONCE);
        assertThat(config.modelPath()).isEqualTo("s3://bucket/m.gguf");
        assertThat(config.mmprojPath()).isEqualTo("/abs/p.gguf");
        assertThat(config.kvSpec()).isEqualTo("kivi2");
        assertThat(config.device()).isEqualTo("cpu");
        assertThat(config.threads()).isEqualTo(3);
        assertThat(config.maxSequences()).isEqualTo(8);
        assertThat(config.maxStepTokens()).isEqualTo(256);
        assertThat(config.prefillChunk()).isEqualTo(64);
        assertThat(config.maxWait().toMillis()).isEqualTo(7);
        assertThat(config.maxInFlight()).isEqualTo(32);
        assertThat(config.hotSetBytes()).isEqualTo(16L << 20);
        assertThat(config.recentEventIds()).isEqualTo(9);
        assertThat(config.idleTimeout()).isEqualTo(java.time.Duration.ofSeconds(90));
        assertThat(JobArguments.parse("--model", "m", "--idle-timeout", "0").pipeline().idleTimeout()).isZero();
    }

    @Test
    void badArgumentsAreNamed() {
        assertThatThrownBy(() -> JobArguments.parse("--model", "m", "--batch", "3"))
                .hasMessageContaining("Unknown option --batch");
        assertThatThrownBy(() -> JobArguments.parse("--bootstrap", "x:1"))
                .hasMessageContaining("--model is required");
        assertThatThrownBy(() -> JobArguments.parse("--model", "m", "--threads", "many"))
                .hasMessageContaining("--threads takes a whole number");
        assertThatThrownBy(() -> JobArguments.parse("--model", "m", "--idle-timeout", "soon"))
                .hasMessageContaining("--idle-timeout takes a duration");
        assertThatThrownBy(() -> JobArguments.parse("--model", "m", "--delivery", "twice"))
                .hasMessageContaining("--delivery must be");
        assertThatThrownBy(() -> JobArguments.parse("--model", "m", "--kv"))
                .hasMessageContaining("--kv needs a value");
        assertThatThrownBy(() -> JobArguments.parse("--model", "m", "--kv", "kivi3").pipeline())
                .hasMessageContaining("kivi3");
        assertThatThrownBy(() -> JobArguments.parse("--model", "m", "--device", "tpu").pipeline())
                .hasMessageContaining("unknown device 'tpu'");
    }

    @Test
    void helpListsEveryOptionWithItsDefault() {
        assertThat(JobArguments.parse("--help").help()).isTrue();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        JobArguments.printUsage(new PrintStream(out, true, StandardCharsets.UTF_8));
        String usage = out.toString(StandardCharsets.UTF_8);
        for (JobArguments.Option o : JobArguments.OPTIONS) {
            assertThat(usage).contains("--" + o.name());
            if (o.fallback() != null) {
                assertThat(usage).contains("(default: " + o.fallback() + ")");
            }
        }
    }
}
