package io.kvstream.it.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.client.EvalEvents;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.KvstreamTopics;
import io.kvstream.connect.client.ResponseConsumer;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.Container.ExecResult;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.images.builder.ImageFromDockerfile;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.utility.DockerImageName;
import org.yaml.snakeyaml.Yaml;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The deployment as shipped, end to end: Kafka from its official image, the job image built from
 * {@code deploy/Dockerfile}, a JobManager and a TaskManager from it with the Flink settings of
 * {@code deploy/compose.yaml}. The job is submitted with {@code flink run}, three sessions talk,
 * the TaskManager is killed in the middle of the second turn and another one started; every
 * request must get exactly one final response (exactly-once delivery, read_committed).
 *
 * <p>Needs a Docker engine and the built job jar ({@code ./mvnw -pl integration-tests -am
 * verify} builds it first); without Docker it is skipped.
 */
@Testcontainers(disabledWithoutDocker = true)
class ContainerFailoverTest {

    private static final String KAFKA_IMAGE = "apache/kafka:4.2.0";
    /** The listener the containers use; the test itself uses the mapped one. */
    private static final String KAFKA_IN_NETWORK = "kafka:19092";
    private static final String[] SESSIONS = {"s-1", "s-2", "s-3"};

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void everyRequestGetsOneFinalResponseAcrossATaskManagerLoss() throws Exception {
        Path root = repositoryRoot();
        Path jar = root.resolve("pipeline-jobs/target/kvstream-job.jar");
        assertThat(jar).as("the job jar; build it with ./mvnw -pl pipeline-jobs -am package").exists();

        // Checkpoints must outlive the TaskManager that wrote them: a folder both containers see,
        // writable by the image's flink user.
        Path checkpoints = Files.createTempDirectory("kvstream-checkpoints",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxrwxrwx")));
        Files.setPosixFilePermissions(checkpoints, PosixFilePermissions.fromString("rwxrwxrwx"));
        String flinkProperties = flinkProperties(root, checkpoints);

        // Only what the Dockerfile copies, at the paths it has in the repository: the context
        // is the repository root without its build outputs and history.
        ImageFromDockerfile image = new ImageFromDockerfile("kvstream-it", true)
                .withDockerfile(root.resolve("deploy/Dockerfile"))
                .withFileFromPath("models/refmodel-q8_0.gguf", root.resolve("models/refmodel-q8_0.gguf"))
                .withFileFromPath("models/refmodel-mmproj-f16.gguf", root.resolve("models/refmodel-mmproj-f16.gguf"))
                .withFileFromPath("pipeline-jobs/target/kvstream-job.jar", jar);

        try (Network network = Network.newNetwork();
                KafkaContainer kafka = new KafkaContainer(DockerImageName.parse(KAFKA_IMAGE))
                        .withNetwork(network)
                        .withListener(KAFKA_IN_NETWORK);
                GenericContainer<?> jobManager = flink(image, network, flinkProperties, checkpoints)
                        .withNetworkAliases("jobmanager")
                        .withCommand("jobmanager")
                        .withExposedPorts(8081)
                        .waitingFor(Wait.forHttp("/overview").forPort(8081))) {
            kafka.start();
            KvstreamKafkaConfig config = KvstreamKafkaConfig.builder()
                    .bootstrapServers(kafka.getBootstrapServers())
                    .replicationFactor((short) 1)
                    .delivery(KvstreamKafkaConfig.Delivery.EXACTLY_ONCE)
                    .build();
            KvstreamTopics.ensure(config, Duration.ofSeconds(60));
            jobManager.start();

            List<SessionEvent> sent = new ArrayList<>();
            try (GenericContainer<?> first = taskManager(image, network, flinkProperties, checkpoints);
                    GenericContainer<?> second = taskManager(image, network, flinkProperties, checkpoints);
                    SessionEventProducer producer = SessionEventProducer.create(config)) {
                first.start();
                ExecResult run = jobManager.execInContainer(
                        "flink", "run", "-d", "-p", "1", "/opt/flink/usrlib/kvstream-job.jar",
                        "--bootstrap", KAFKA_IN_NETWORK,
                        "--model", "/opt/kvstream/models/refmodel-q8_0.gguf",
                        "--kv", "kivi2",
                        "--delivery", "exactly-once",
                        "--max-in-flight", "8");
                assertThat(run.getExitCode()).as("flink run:%n%s%n%s", run.getStdout(), run.getStderr()).isZero();

                // Turn 1 answered before anything fails: the sessions have stored caches.
                List<SessionEvent> firstTurn = sendTurn(producer, "Hello, who are you?");
                sent.addAll(firstTurn);
                awaitFinals(config, firstTurn, Duration.ofMinutes(5));

                // Turn 2 in flight when the TaskManager dies; a new one takes over its slot.
                sent.addAll(sendTurn(producer, "Tell me a short story."));
                Thread.sleep(500);
                DockerClientFactory.instance().client().killContainerCmd(first.getContainerId()).exec();
                first.stop();
                second.start();

                // Turn 3 after the restore: served from the restored (or recomputed) caches.
                sent.addAll(sendTurn(producer, "And what happened next?"));
                awaitFinals(config, sent, Duration.ofMinutes(8));

                // Give duplicates a chance to show (a replay after the restore would write them now).
                Thread.sleep(10_000);
            }

            Map<String, Integer> finals = finalsPerEvent(config, sent, Duration.ofSeconds(10));
            for (SessionEvent e : sent) {
                assertThat(finals.getOrDefault(e.getEventId(), 0))
                        .as("final responses to event %s of session %s", e.getEventId(), e.getSessionId())
                        .isEqualTo(1);
            }
        }
    }

    private static List<SessionEvent> sendTurn(SessionEventProducer producer, String text) {
        List<SessionEvent> events = new ArrayList<>();
        for (String session : SESSIONS) {
            events.add(producer.send(session, EvalEvents.userTurn(text, 16)));
        }
        producer.flush();
        return events;
    }

    /** Waits until every event has at least one final response. */
    private static void awaitFinals(KvstreamKafkaConfig config, List<SessionEvent> events, Duration timeout)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Map<String, Integer> finals = finalsPerEvent(config, events, Duration.ofSeconds(2));
            long missing = events.stream().filter(e -> !finals.containsKey(e.getEventId())).count();
            if (missing == 0) {
                return;
            }
            assertThat(System.nanoTime()).as("%d of %d requests still unanswered after %s", missing,
                    events.size(), timeout).isLessThan(deadline);
            Thread.sleep(1000);
        }
    }

    /** Final responses per event id, reading the sessions' committed responses from the start. */
    private static Map<String, Integer> finalsPerEvent(
            KvstreamKafkaConfig config, List<SessionEvent> events, Duration quiet) {
        Map<String, Integer> finals = new LinkedHashMap<>();
        for (String session : SESSIONS) {
            try (ResponseConsumer consumer = ResponseConsumer.forSession(config, session, true)) {
                List<ResponseEvent> batch;
                while (!(batch = consumer.poll(quiet)).isEmpty()) {
                    for (ResponseEvent r : batch) {
                        if (r.getPayload() instanceof FinalResponse) {
                            finals.merge(r.getEventId(), 1, Integer::sum);
                        }
                    }
                }
            }
        }
        return finals;
    }

    private static GenericContainer<?> flink(
            ImageFromDockerfile image, Network network, String properties, Path checkpoints) {
        return new GenericContainer<>(image)
                .withNetwork(network)
                .withEnv("JOB_MANAGER_RPC_ADDRESS", "jobmanager")
                .withEnv("FLINK_PROPERTIES", properties)
                .withFileSystemBind(checkpoints.toString(), "/checkpoints");
    }

    private static GenericContainer<?> taskManager(
            ImageFromDockerfile image, Network network, String properties, Path checkpoints) {
        return flink(image, network, properties, checkpoints)
                .withCommand("taskmanager")
                .withEnv("TASK_MANAGER_NUMBER_OF_TASK_SLOTS", "1")
                .waitingFor(Wait.forLogMessage(".*Successful registration at resource manager.*", 1)
                        .withStartupTimeout(Duration.ofMinutes(2)));
    }

    /**
     * The Flink settings of deploy/compose.yaml, so that this test runs what is shipped, with
     * checkpoints in the shared folder, more often, and a lost TaskManager noticed sooner.
     */
    @SuppressWarnings("unchecked")
    private static String flinkProperties(Path root, Path checkpoints) throws IOException {
        Map<String, Object> compose = new Yaml().load(Files.readString(root.resolve("deploy/compose.yaml")));
        Map<String, Object> services = (Map<String, Object>) compose.get("services");
        Map<String, Object> jm = (Map<String, Object>) services.get("jobmanager");
        String shipped = (String) ((Map<String, Object>) jm.get("environment")).get("FLINK_PROPERTIES");
        Map<String, String> props = new LinkedHashMap<>();
        for (String line : shipped.split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0) {
                props.put(line.substring(0, colon).trim(), line.substring(colon + 1).trim());
            }
        }
        props.put("parallelism.default", "1");
        props.put("execution.checkpointing.dir", "file:///checkpoints");
        props.put("execution.checkpointing.savepoint-dir", "file:///checkpoints/savepoints");
        props.put("execution.checkpointing.interval", "2s");
        props.put("heartbeat.interval", "2000");
        props.put("heartbeat.timeout", "10000");
        props.put("taskmanager.memory.process.size", "2g");
        StringBuilder out = new StringBuilder();
        props.forEach((k, v) -> out.append(k).append(": ").append(v).append('\n'));
        return out.toString();
    }

    private static Path repositoryRoot() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("deploy"))) {
            dir = dir.getParent();
        }
        assertThat(dir).as("the repository root (with deploy/)").isNotNull();
        return dir;
    }
}
