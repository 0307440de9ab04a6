package io.kvstream.connect;

import org.apache.kafka.clients.CommonClientConfigs;

import javax.annotation.Nullable;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkNotNull;

/**
 * Where kvstream's topics are and how to reach them: the one place the job, the topic
 * administration and the command line clients read their Kafka settings from.
 *
 * <p>{@link #fromProperties(Properties)} reads a Kafka client properties file (plus {@code
 * --kafka-property k=v} pairs): keys starting with {@code kvstream.} configure kvstream, {@code
 * group.id} is the pipeline's consumer group, and every other key is a client property that reaches
 * every Kafka client kvstream makes: the Flink source and sinks, the admin client and the CLI
 * producer and consumer. That is how {@code security.protocol}, {@code sasl.*} and {@code ssl.*}
 * get everywhere. A key prefixed {@code consumer.}, {@code producer.} or {@code admin.} reaches only
 * that kind of client, without the prefix.
 */
public final class KvstreamKafkaConfig {

    /** Which kind of Kafka client a set of properties is for. */
    public enum Client {
        CONSUMER("consumer."),
        PRODUCER("producer."),
        ADMIN("admin.");

        private final String prefix;

        Client(String prefix) {
            this.prefix = prefix;
        }
    }

    /** Where the pipeline's source starts reading when the job starts without a checkpoint. */
    public enum StartingOffsets {
        /** The group's committed offsets; the earliest retained event for partitions without. */
        COMMITTED,
        EARLIEST,
        LATEST
    }

    /** How the sinks write: at-least-once flushes on checkpoints, exactly-once uses transactions. */
    public enum Delivery {
        AT_LEAST_ONCE,
        EXACTLY_ONCE
    }

    public static final String PREFIX = "kvstream.";
    public static final String EVENTS_TOPIC = PREFIX + "topic.events";
    public static final String RESPONSES_TOPIC = PREFIX + "topic.responses";
    public static final String DEAD_LETTERS_TOPIC = PREFIX + "topic.dead-letters";
    public static final String EVENTS_PARTITIONS = PREFIX + "partitions.events";
    public static final String RESPONSES_PARTITIONS = PREFIX + "partitions.responses";
    public static final String DEAD_LETTERS_PARTITIONS = PREFIX + "partitions.dead-letters";
    public static final String REPLICATION_FACTOR = PREFIX + "replication-factor";
    public static final String EVENTS_RETENTION_MS = PREFIX + "retention-ms.events";
    public static final String RESPONSES_RETENTION_MS = PREFIX + "retention-ms.responses";
    public static final String DEAD_LETTERS_RETENTION_MS = PREFIX + "retention-ms.dead-letters";
    public static final String MAX_MESSAGE_BYTES = PREFIX + "max-message-bytes";
    public static final String STARTING_OFFSETS = PREFIX + "starting-offsets";
    public static final String DELIVERY = PREFIX + "delivery";
    public static final String TRANSACTIONAL_ID_PREFIX = PREFIX + "transactional-id-prefix";
    public static final String TRANSACTION_TIMEOUT_MS = PREFIX + "transaction-timeout-ms";
    public static final String GROUP_ID = "group.id";

    private final String bootstrapServers;
    private final String eventsTopic;
    private final String responsesTopic;
    private final String deadLettersTopic;
    private final String groupId;
    private final StartingOffsets startingOffsets;
    private final int eventsPartitions;
    private final int responsesPartitions;
    private final int deadLettersPartitions;
    private final short replicationFactor;
    private final Duration eventsRetention;
    private final Duration responsesRetention;
    private final Duration deadLettersRetention;
    private final int maxMessageBytes;
    private final Delivery delivery;
    private final String transactionalIdPrefix;
    private final Duration transactionTimeout;
    private final Map<String, String> clientProperties;

    private KvstreamKafkaConfig(Builder b) {
        this.bootstrapServers = checkNotNull(b.bootstrapServers, "bootstrap.servers is required");
        checkArgument(!bootstrapServers.isBlank(), "bootstrap.servers is empty");
        this.eventsTopic = checkTopic(b.eventsTopic);
        this.responsesTopic = checkTopic(b.responsesTopic);
        this.deadLettersTopic = checkTopic(b.deadLettersTopic);
        checkArgument(
                !eventsTopic.equals(responsesTopic)
                        && !eventsTopic.equals(deadLettersTopic)
                        && !responsesTopic.equals(deadLettersTopic),
                "The events, responses and dead-letter topics must differ: %s, %s, %s",
                eventsTopic,
                responsesTopic,
                deadLettersTopic);
        this.groupId = checkNotNull(b.groupId);
        this.startingOffsets = checkNotNull(b.startingOffsets);
        this.eventsPartitions = checkPositive(b.eventsPartitions, EVENTS_PARTITIONS);
        this.responsesPartitions = checkPositive(b.responsesPartitions, RESPONSES_PARTITIONS);
        this.deadLettersPartitions = checkPositive(b.deadLettersPartitions, DEAD_LETTERS_PARTITIONS);
        checkArgument(
                b.replicationFactor == -1 || b.replicationFactor > 0,
                "%s must be positive, or -1 for the broker's default; got %s",
                REPLICATION_FACTOR,
                b.replicationFactor);
        this.replicationFactor = b.replicationFactor;
        this.eventsRetention = checkRetention(b.eventsRetention);
        this.responsesRetention = checkRetention(b.responsesRetention);
        this.deadLettersRetention = checkRetention(b.deadLettersRetention);
        this.maxMessageBytes = checkPositive(b.maxMessageBytes, MAX_MESSAGE_BYTES);
        this.delivery = checkNotNull(b.delivery);
        this.transactionalIdPrefix = checkNotNull(b.transactionalIdPrefix);
        checkArgument(
                !transactionalIdPrefix.isBlank(), "%s is empty", TRANSACTIONAL_ID_PREFIX);
        this.transactionTimeout = checkNotNull(b.transactionTimeout);
        checkArgument(
                !transactionTimeout.isNegative() && !transactionTimeout.isZero(),
                "%s must be positive",
                TRANSACTION_TIMEOUT_MS);
        this.clientProperties = Collections.unmodifiableMap(new LinkedHashMap<>(b.clientProperties));
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Reads the keys described in the class comment; unknown {@code kvstream.} keys are errors. */
    public static KvstreamKafkaConfig fromProperties(Properties properties) {
        Builder b = builder();
        for (String key : properties.stringPropertyNames()) {
            String value = properties.getProperty(key).trim();
            switch (key) {
                case CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG:
                    b.bootstrapServers(value);
                    break;
                case GROUP_ID:
                    b.groupId(value);
                    break;
                case EVENTS_TOPIC:
                    b.eventsTopic(value);
                    break;
                case RESPONSES_TOPIC:
                    b.responsesTopic(value);
                    break;
                case DEAD_LETTERS_TOPIC:
                    b.deadLettersTopic(value);
                    break;
                case EVENTS_PARTITIONS:
                    b.eventsPartitions(parseInt(key, value));
                    break;
                case RESPONSES_PARTITIONS:
                    b.responsesPartitions(parseInt(key, value));
                    break;
                case DEAD_LETTERS_PARTITIONS:
                    b.deadLettersPartitions(parseInt(key, value));
                    break;
                case REPLICATION_FACTOR:
                    b.replicationFactor((short) parseInt(key, value));
                    break;
                case EVENTS_RETENTION_MS:
                    b.eventsRetention(Duration.ofMillis(parseLong(key, value)));
                    break;
                case RESPONSES_RETENTION_MS:
                    b.responsesRetention(Duration.ofMillis(parseLong(key, value)));
                    break;
                case DEAD_LETTERS_RETENTION_MS:
                    b.deadLettersRetention(Duration.ofMillis(parseLong(key, value)));
                    break;
                case MAX_MESSAGE_BYTES:
                    b.maxMessageBytes(parseInt(key, value));
                    break;
                case STARTING_OFFSETS:
                    b.startingOffsets(parseEnum(StartingOffsets.class, key, value));
                    break;
                case DELIVERY:
                    b.delivery(parseEnum(Delivery.class, key, value));
                    break;
                case TRANSACTIONAL_ID_PREFIX:
                    b.transactionalIdPrefix(value);
                    break;
                case TRANSACTION_TIMEOUT_MS:
                    b.transactionTimeout(Duration.ofMillis(parseLong(key, value)));
                    break;
                default:
                    checkArgument(
                            !key.startsWith(PREFIX), "Unknown kvstream Kafka setting %s", key);
                    b.clientProperty(key, value);
            }
        }
        return b.build();
    }

    /**
     * The command line's way in: an optional properties file, then {@code k=v} pairs (as from
     * repeated {@code --kafka-property}) that override it.
     */
    public static KvstreamKafkaConfig load(@Nullable Path propertiesFile, List<String> keyValues)
            throws IOException {
        Properties props = new Properties();
        if (propertiesFile != null) {
            try (Reader in = Files.newBufferedReader(propertiesFile, StandardCharsets.UTF_8)) {
                props.load(in);
            }
        }
        for (String keyValue : keyValues) {
            putKeyValue(props, keyValue);
        }
        return fromProperties(props);
    }

    /** Splits a command line's {@code k=v} into a property; the value may contain '='. */
    public static void putKeyValue(Properties into, String keyValue) {
        int eq = keyValue.indexOf('=');
        checkArgument(eq > 0, "Expected key=value, got '%s'", keyValue);
        into.setProperty(keyValue.substring(0, eq).trim(), keyValue.substring(eq + 1).trim());
    }

    /**
     * The properties for one kind of client: bootstrap servers, the unprefixed client properties,
     * then the ones with that client's prefix (which win).
     */
    public Properties clientProperties(Client client) {
        Properties props = new Properties();
        props.setProperty(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        for (Map.Entry<String, String> e : clientProperties.entrySet()) {
            if (!isPrefixed(e.getKey())) {
                props.setProperty(e.getKey(), e.getValue());
            }
        }
        for (Map.Entry<String, String> e : clientProperties.entrySet()) {
            if (e.getKey().startsWith(client.prefix)) {
                props.setProperty(e.getKey().substring(client.prefix.length()), e.getValue());
            }
        }
        return props;
    }

    private static boolean isPrefixed(String key) {
        for (Client c : Client.values()) {
            if (key.startsWith(c.prefix)) {
                return true;
            }
        }
        return false;
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    public String eventsTopic() {
        return eventsTopic;
    }

    public String responsesTopic() {
        return responsesTopic;
    }

    public String deadLettersTopic() {
        return deadLettersTopic;
    }

    public String groupId() {
        return groupId;
    }

    public StartingOffsets startingOffsets() {
        return startingOffsets;
    }

    public int eventsPartitions() {
        return eventsPartitions;
    }

    public int responsesPartitions() {
        return responsesPartitions;
    }

    public int deadLettersPartitions() {
        return deadLettersPartitions;
    }

    /** -1: the broker's {@code default.replication.factor}. */
    public short replicationFactor() {
        return replicationFactor;
    }

    public Duration eventsRetention() {
        return eventsRetention;
    }

    public Duration responsesRetention() {
        return responsesRetention;
    }

    public Duration deadLettersRetention() {
        return deadLettersRetention;
    }

    /** Largest message on the topics and from the producers: video frames are megabytes. */
    public int maxMessageBytes() {
        return maxMessageBytes;
    }

    /** A dead letter holds a whole events-topic record, key and error message besides. */
    public int maxDeadLetterBytes() {
        return maxMessageBytes + 64 * 1024;
    }

    public Delivery delivery() {
        return delivery;
    }

    public String transactionalIdPrefix() {
        return transactionalIdPrefix;
    }

    public Duration transactionTimeout() {
        return transactionTimeout;
    }

    /** The client properties as given, prefixes included. */
    public Map<String, String> rawClientProperties() {
        return clientProperties;
    }

    @Override
    public String toString() {
        // Client properties may hold passwords (sasl.jaas.config, ssl.*.password): keys only.
        return "KvstreamKafkaConfig{bootstrapServers=" + bootstrapServers
                + ", topics=[" + eventsTopic + ", " + responsesTopic + ", " + deadLettersTopic
                + "], groupId=" + groupId + ", startingOffsets=" + startingOffsets
                + ", delivery=" + delivery + ", clientPropertyKeys=" + clientProperties.keySet()
                + '}';
    }

    private static String checkTopic(String topic) {
        checkNotNull(topic, "topic");
        checkArgument(
                topic.matches("[a-zA-Z0-9._-]{1,249}"), "Not a valid Kafka topic name: '%s'", topic);
        return topic;
    }

    private static int checkPositive(int value, String key) {
        checkArgument(value > 0, "%s must be positive, got %s", key, value);
        return value;
    }

    private static Duration checkRetention(Duration retention) {
        checkNotNull(retention);
        checkArgument(!retention.isNegative() && !retention.isZero(), "Retention must be positive");
        return retention;
    }

    private static int parseInt(String key, String value) {
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be an integer, got '" + value + "'", e);
        }
    }

    private static long parseLong(String key, String value) {
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be an integer, got '" + value + "'", e);
        }
    }

    private static <E extends Enum<E>> E parseEnum(Class<E> type, String key, String value) {
        String normalized = value.trim().toUpperCase(java.util.Locale.ROOT).replace('-', '_');
        for (E e : type.getEnumConstants()) {
            if (e.name().equals(normalized)) {
                return e;
            }
        }
        throw new IllegalArgumentException(
                key + " must be one of " + java.util.Arrays.toString(type.getEnumConstants())
                        + ", got '" + value + "'");
    }

    /** Defaults: topics {@code kvstream.events}, {@code kvstream.responses}, {@code kvstream.dead-letters}. */
    public static final class Builder {
        private String bootstrapServers;
        private String eventsTopic = "kvstream.events";
        private String responsesTopic = "kvstream.responses";
        private String deadLettersTopic = "kvstream.dead-letters";
        private String groupId = "kvstream-pipeline";
        private StartingOffsets startingOffsets = StartingOffsets.COMMITTED;
        private int eventsPartitions = 8;
        private int responsesPartitions = 8;
        private int deadLettersPartitions = 1;
        private short replicationFactor = -1;
        private Duration eventsRetention = Duration.ofDays(7);
        private Duration responsesRetention = Duration.ofDays(1);
        private Duration deadLettersRetention = Duration.ofDays(30);
        private int maxMessageBytes = 16 * 1024 * 1024;
        private Delivery delivery = Delivery.AT_LEAST_ONCE;
        private String transactionalIdPrefix = "kvstream";
        // Below the broker's default transaction.max.timeout.ms (15 min), or InitProducerId fails.
        private Duration transactionTimeout = Duration.ofMinutes(1);
        private final Map<String, String> clientProperties = new LinkedHashMap<>();

        private Builder() {}

        public Builder bootstrapServers(String bootstrapServers) {
            this.bootstrapServers = bootstrapServers;
            return this;
        }

        public Builder eventsTopic(String topic) {
            this.eventsTopic = topic;
            return this;
        }

        public Builder responsesTopic(String topic) {
            this.responsesTopic = topic;
            return this;
        }

        public Builder deadLettersTopic(String topic) {
            this.deadLettersTopic = topic;
            return this;
        }

        public Builder groupId(String groupId) {
            this.groupId = groupId;
            return this;
        }

        public Builder startingOffsets(StartingOffsets startingOffsets) {
            this.startingOffsets = startingOffsets;
            return this;
        }

        public Builder eventsPartitions(int partitions) {
            this.eventsPartitions = partitions;
            return this;
        }

        public Builder responsesPartitions(int partitions) {
            this.responsesPartitions = partitions;
            return this;
        }

        public Builder deadLettersPartitions(int partitions) {
            this.deadLettersPartitions = partitions;
            return this;
        }

        public Builder replicationFactor(short replicationFactor) {
            this.replicationFactor = replicationFactor;
            return this;
        }

        public Builder eventsRetention(Duration retention) {
            this.eventsRetention = retention;
            return this;
        }

        public Builder responsesRetention(Duration retention) {
            this.responsesRetention = retention;
            return this;
        }

        public Builder deadLettersRetention(Duration retention) {
            this.deadLettersRetention = retention;
            return this;
        }

        public Builder maxMessageBytes(int maxMessageBytes) {
            this.maxMessageBytes = maxMessageBytes;
            return this;
        }

        public Builder delivery(Delivery delivery) {
            this.delivery = delivery;
            return this;
        }

        public Builder transactionalIdPrefix(String prefix) {
            this.transactionalIdPrefix = prefix;
            return this;
        }

        public Builder transactionTimeout(Duration timeout) {
            this.transactionTimeout = timeout;
            return this;
        }

        /** A Kafka client property, optionally prefixed {@code consumer.}/{@code producer.}/{@code admin.}. */
        public Builder clientProperty(String key, String value) {
            checkArgument(!key.startsWith(PREFIX), "%s is a kvstream setting, not a client property", key);
            clientProperties.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
            return this;
        }

        public KvstreamKafkaConfig build() {
            return new KvstreamKafkaConfig(this);
        }
    }
}
