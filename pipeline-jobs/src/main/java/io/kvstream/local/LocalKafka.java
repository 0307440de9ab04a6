package io.kvstream.local;

import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node Kafka (KRaft, broker and controller in one node) inside this JVM, made with
 * Kafka's own test kit so that local mode needs neither Docker nor a Kafka installation. Its data
 * lives in a temporary folder that {@link #close()} deletes: local mode's Kafka starts empty.
 *
 * <p>{@code KafkaClusterTestKit} is Kafka's internal test tooling, not a stable API: this class
 * is the one place that touches it.
 */
public final class LocalKafka implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LocalKafka.class);

    private final KafkaClusterTestKit cluster;
    private final String bootstrapServers;

    private LocalKafka(KafkaClusterTestKit cluster) {
        this.cluster = cluster;
        this.bootstrapServers = cluster.bootstrapServers();
    }

    /** Formats and starts the node; returns once the broker accepts clients. */
    public static LocalKafka start() throws Exception {
        KafkaClusterTestKit cluster =
                new KafkaClusterTestKit.Builder(
                                new TestKitNodes.Builder()
                                        .setCombined(true)
                                        .setNumBrokerNodes(1)
                                        .setNumControllerNodes(1)
                                        .build())
                        // One broker: the internal topics cannot have the default 3 replicas.
                        .setConfigProp("offsets.topic.replication.factor", "1")
                        .setConfigProp("offsets.topic.num.partitions", "1")
                        .setConfigProp("transaction.state.log.replication.factor", "1")
                        .setConfigProp("transaction.state.log.min.isr", "1")
                        .setConfigProp("transaction.state.log.num.partitions", "1")
                        // Consumers of a fresh group would otherwise wait 3 s for more members.
                        .setConfigProp("group.initial.rebalance.delay.ms", "0")
                        // Video frames: the events topic allows 16 MiB messages.
                        .setConfigProp("message.max.bytes", String.valueOf(32 * 1024 * 1024))
                        .setConfigProp("replica.fetch.max.bytes", String.valueOf(32 * 1024 * 1024))
                        .build();
        try {
            formatQuietly(cluster);
            cluster.startup();
            cluster.waitForReadyBrokers();
        } catch (Exception e) {
            closeQuietly(cluster);
            throw e;
        }
        LocalKafka kafka = new LocalKafka(cluster);
        LOG.info("Kafka broker ready at {}", kafka.bootstrapServers);
        return kafka;
    }

    // The test kit's formatter prints its progress to System.out, which is the chat's screen in
    // local mode: it goes to the log instead.
    private static void formatQuietly(KafkaClusterTestKit cluster) throws Exception {
        java.io.PrintStream out = System.out;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            cluster.format();
        } finally {
            System.setOut(out);
            LOG.debug("Kafka storage format: {}", captured.toString(java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    @Override
    public void close() throws Exception {
        cluster.close();
    }

    private static void closeQuietly(KafkaClusterTestKit cluster) {
        try {
            cluster.close();
        } catch (Exception e) {
            LOG.warn("Closing a Kafka broker that failed to start: {}", e.toString());
        }
    }
}
