package io.kvstream.connect;

import io.kvstream.connect.KvstreamKafkaConfig.Client;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Creates kvstream's three topics. Idempotent: a topic that exists is left as it is (its partition
 * count in particular: changing it would move sessions to other partitions), with a warning when
 * it differs from the configuration.
 */
public final class KvstreamTopics {

    private static final Logger LOG = LoggerFactory.getLogger(KvstreamTopics.class);

    /** What {@link #ensure} did to a topic. */
    public enum Outcome {
        CREATED,
        EXISTED
    }

    private KvstreamTopics() {}

    /** With an admin client made from the configuration. */
    public static Map<String, Outcome> ensure(KvstreamKafkaConfig config, Duration timeout)
            throws InterruptedException, ExecutionException, TimeoutException {
        try (Admin admin = Admin.create(config.clientProperties(Client.ADMIN))) {
            return ensure(admin, config, timeout);
        }
    }

    public static Map<String, Outcome> ensure(
            Admin admin, KvstreamKafkaConfig config, Duration timeout)
            throws InterruptedException, ExecutionException, TimeoutException {
        List<NewTopic> topics = newTopics(config);
        Map<String, KafkaFuture<Void>> created = admin.createTopics(topics).values();
        Map<String, Outcome> outcomes = new LinkedHashMap<>();
        List<String> existing = new ArrayList<>();
        for (NewTopic topic : topics) {
            try {
                created.get(topic.name()).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                outcomes.put(topic.name(), Outcome.CREATED);
                LOG.info("Created topic {}: {} partitions, {}", topic.name(), topic.numPartitions(), topic.configs());
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
                outcomes.put(topic.name(), Outcome.EXISTED);
                existing.add(topic.name());
            }
        }
        awaitLeaders(admin, outcomes, timeout);
        if (!existing.isEmpty()) {
            Map<String, TopicDescription> descriptions =
                    admin.describeTopics(existing)
                            .allTopicNames()
                            .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            for (NewTopic topic : topics) {
                TopicDescription d = descriptions.get(topic.name());
                if (d != null && d.partitions().size() != topic.numPartitions()) {
                    LOG.warn(
                            "Topic {} exists with {} partitions, configured {}: leaving it as it is",
                            topic.name(),
                            d.partitions().size(),
                            topic.numPartitions());
                }
            }
        }
        return outcomes;
    }

    /**
     * Returns once every partition of the topics answers as leader. Right after creation the
     * controller already names a leader while the broker still answers NOT_LEADER_OR_FOLLOWER; an
     * idempotent producer sending then was seen stuck retrying with OUT_OF_ORDER_SEQUENCE_NUMBER
     * (Kafka 4.2). ListOffsets goes to the leader's replica manager, and the admin client retries
     * it until that is ready.
     */
    private static void awaitLeaders(Admin admin, Map<String, Outcome> topics, Duration timeout)
            throws InterruptedException, ExecutionException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Map<String, TopicDescription> descriptions = null;
        while (descriptions == null) {
            try {
                descriptions =
                        admin.describeTopics(topics.keySet())
                                .allTopicNames()
                                .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                // UnknownTopicOrPartition: the new topic's metadata has not reached the broker.
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(50);
            }
        }
        Map<TopicPartition, OffsetSpec> partitions = new HashMap<>();
        for (TopicDescription d : descriptions.values()) {
            for (TopicPartitionInfo p : d.partitions()) {
                partitions.put(new TopicPartition(d.name(), p.partition()), OffsetSpec.latest());
            }
        }
        long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
        admin.listOffsets(partitions).all().get(left, TimeUnit.MILLISECONDS);
    }

    /** The topics as {@link #ensure} creates them. */
    public static List<NewTopic> newTopics(KvstreamKafkaConfig config) {
        Optional<Short> replication =
                config.replicationFactor() < 0
                        ? Optional.empty()
                        : Optional.of(config.replicationFactor());
        String maxMessageBytes = String.valueOf(config.maxMessageBytes());
        String maxDeadLetterBytes = String.valueOf(config.maxDeadLetterBytes());
        return List.of(
                new NewTopic(config.eventsTopic(), Optional.of(config.eventsPartitions()), replication)
                        .configs(
                                Map.of(
                                        TopicConfig.RETENTION_MS_CONFIG,
                                        String.valueOf(config.eventsRetention().toMillis()),
                                        TopicConfig.CLEANUP_POLICY_CONFIG,
                                        TopicConfig.CLEANUP_POLICY_DELETE,
                                        // Video frames: a 1280x720 RGB frame is 2.7 MB.
                                        TopicConfig.MAX_MESSAGE_BYTES_CONFIG,
                                        maxMessageBytes)),
                new NewTopic(
                                config.responsesTopic(),
                                Optional.of(config.responsesPartitions()),
                                replication)
                        .configs(
                                Map.of(
                                        TopicConfig.RETENTION_MS_CONFIG,
                                        String.valueOf(config.responsesRetention().toMillis()),
                                        TopicConfig.CLEANUP_POLICY_CONFIG,
                                        TopicConfig.CLEANUP_POLICY_DELETE)),
                new NewTopic(
                                config.deadLettersTopic(),
                                Optional.of(config.deadLettersPartitions()),
                                replication)
                        .configs(
                                Map.of(
                                        TopicConfig.RETENTION_MS_CONFIG,
                                        String.valueOf(config.deadLettersRetention().toMillis()),
                                        TopicConfig.CLEANUP_POLICY_CONFIG,
                                        TopicConfig.CLEANUP_POLICY_DELETE,
                                        TopicConfig.MAX_MESSAGE_BYTES_CONFIG,
                                        maxDeadLetterBytes)));
    }
}
