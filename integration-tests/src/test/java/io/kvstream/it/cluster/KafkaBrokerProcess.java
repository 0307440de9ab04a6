package io.kvstream.it.cluster;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * A Kafka 4.2 broker as a process of its own, in KRaft combined mode (broker and controller in
 * one node), on 127.0.0.1 and free ports, started from the jars of {@code kafka-dist} the way
 * {@code kafka-storage.sh format --standalone} and {@code kafka-server-start.sh} do. Replication
 * factor 1 everywhere, so that transactions (exactly-once delivery) work with one node.
 */
public final class KafkaBrokerProcess implements AutoCloseable {

    private final JavaProcess process;
    private final String bootstrap;

    private KafkaBrokerProcess(JavaProcess process, String bootstrap) {
        this.process = process;
        this.bootstrap = bootstrap;
    }

    public static KafkaBrokerProcess start(Path lib, Path dir) throws Exception {
        Files.createDirectories(dir);
        int brokerPort = JavaProcess.freePort();
        int controllerPort = JavaProcess.freePort();
        String bootstrap = "127.0.0.1:" + brokerPort;
        Path props = dir.resolve("server.properties");
        Files.writeString(props, String.join("\n",
                "process.roles=broker,controller",
                "node.id=1",
                "listeners=PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort,
                "advertised.listeners=PLAINTEXT://127.0.0.1:" + brokerPort,
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                "controller.quorum.bootstrap.servers=127.0.0.1:" + controllerPort,
                "log.dirs=" + dir.resolve("data").toAbsolutePath(),
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "message.max.bytes=20971520",
                "") , java.nio.charset.StandardCharsets.UTF_8);
        Path log4j = dir.resolve("log4j2.properties");
        Files.writeString(log4j, String.join("\n",
                "rootLogger.level=WARN",
                "rootLogger.appenderRef.console.ref=console",
                "appender.console.type=Console",
                "appender.console.name=console",
                "appender.console.layout.type=PatternLayout",
                "appender.console.layout.pattern=%d{HH:mm:ss,SSS} %-5p %c{1} - %m%n",
                "logger.kafka.name=kafka",
                "logger.kafka.level=WARN",
                "logger.apache.name=org.apache.kafka",
                "logger.apache.level=WARN",
                ""));
        List<String> jvm = List.of("-Xmx768m", "-XX:+UseG1GC",
                "-Dlog4j2.configurationFile=" + log4j.toAbsolutePath());
        List<String> cp = ClusterPaths.classpathOf(lib);
        // Kafka's own ids: a home-made base64 id may start with '-', which the tool reads as an option.
        String clusterId = Uuid.randomUuid().toString();
        JavaProcess format = JavaProcess.start("kafka-storage-format", jvm, cp, "kafka.tools.StorageTool",
                List.of("format", "-t", clusterId, "-c", props.toString(), "--standalone"),
                Map.of(), dir.resolve("kafka-format.log"));
        int rc = format.await(120);
        if (rc != 0) {
            throw new IllegalStateException("kafka-storage format failed (" + rc + "):\n" + format.tail(40));
        }
        JavaProcess broker = JavaProcess.start("kafka-broker", jvm, cp, "kafka.Kafka",
                List.of(props.toString()), Map.of(), dir.resolve("kafka-broker.log"));
        KafkaBrokerProcess kafka = new KafkaBrokerProcess(broker, bootstrap);
        try {
            kafka.awaitReady(Duration.ofSeconds(90));
        } catch (Exception e) {
            kafka.close();
            throw e;
        }
        return kafka;
    }

    private void awaitReady(Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        Properties p = new Properties();
        p.setProperty(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.setProperty(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        p.setProperty(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        try (Admin admin = Admin.create(p)) {
            while (true) {
                if (!process.isAlive()) {
                    throw new IllegalStateException("Kafka broker exited:\n" + process.tail(60));
                }
                try {
                    if (!admin.describeCluster().nodes().get().isEmpty()) {
                        return;
                    }
                } catch (Exception e) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("Kafka broker not ready within " + timeout
                                + ":\n" + process.tail(60), e);
                    }
                }
                Thread.sleep(500);
            }
        }
    }

    public String bootstrapServers() {
        return bootstrap;
    }

    public JavaProcess process() {
        return process;
    }

    @Override
    public void close() {
        process.close();
    }
}
