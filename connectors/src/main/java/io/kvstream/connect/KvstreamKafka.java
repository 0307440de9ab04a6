package io.kvstream.connect;

import io.kvstream.connect.KvstreamKafkaConfig.Client;
import io.kvstream.connect.serde.DecodingKafkaDeserializer;
import io.kvstream.connect.serde.KeyedKafkaSerializer;
import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.KafkaSinkBuilder;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.kafka.clients.producer.ProducerConfig;

import java.util.Properties;

/** The Flink Kafka source and sinks of the pipeline, built from a {@link KvstreamKafkaConfig}. */
public final class KvstreamKafka {

    private KvstreamKafka() {}

    /** The events topic, each record {@link Decoded} into a {@link SessionEvent} or a dead letter. */
    public static KafkaSource<Decoded<SessionEvent>> eventSource(KvstreamKafkaConfig config) {
        return eventSourceBuilder(config).build();
    }

    /** As {@link #eventSource}, left open for more settings (e.g. {@code setBounded} in tests). */
    public static KafkaSourceBuilder<Decoded<SessionEvent>> eventSourceBuilder(
            KvstreamKafkaConfig config) {
        return KafkaSource.<Decoded<SessionEvent>>builder()
                // Client properties first: the settings below must win over them.
                .setProperties(config.clientProperties(Client.CONSUMER))
                .setBootstrapServers(config.bootstrapServers())
                .setTopics(config.eventsTopic())
                .setGroupId(config.groupId())
                .setClientIdPrefix(config.groupId())
                .setStartingOffsets(startingOffsets(config.startingOffsets()))
                .setDeserializer(new DecodingKafkaDeserializer<>(SessionEvent.class, new SessionEventCheck()));
    }

    // OffsetResetStrategy is deprecated in kafka-clients 4, but it is what the Flink connector takes.
    @SuppressWarnings("deprecation")
    static OffsetsInitializer startingOffsets(KvstreamKafkaConfig.StartingOffsets offsets) {
        switch (offsets) {
            case EARLIEST:
                return OffsetsInitializer.earliest();
            case LATEST:
                return OffsetsInitializer.latest();
            case COMMITTED:
                return OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
            default:
                throw new IllegalArgumentException("Unknown starting offsets " + offsets);
        }
    }

    /** The responses topic, keyed by session id. */
    public static KafkaSink<ResponseEvent> responseSink(KvstreamKafkaConfig config) {
        return sink(
                config,
                KeyedKafkaSerializer.responses(config.responsesTopic()),
                "responses",
                config.maxMessageBytes());
    }

    /** The dead-letter topic, each record keyed as the record it keeps. */
    public static KafkaSink<DeadLetter> deadLetterSink(KvstreamKafkaConfig config) {
        return sink(
                config,
                KeyedKafkaSerializer.deadLetters(config.deadLettersTopic()),
                "dead-letters",
                config.maxDeadLetterBytes());
    }

    /** The events topic, keyed by session id: for jobs that replay or generate events. */
    public static KafkaSink<SessionEvent> eventSink(KvstreamKafkaConfig config) {
        return sink(
                config,
                KeyedKafkaSerializer.sessionEvents(config.eventsTopic()),
                "events",
                config.maxMessageBytes());
    }

    /**
     * @param name distinguishes the transactional ids of the job's sinks: two sinks sharing a
     *     prefix would fence each other's transactions
     */
    static <T> KafkaSink<T> sink(
            KvstreamKafkaConfig config,
            KafkaRecordSerializationSchema<T> serializer,
            String name,
            int maxRequestBytes) {
        KafkaSinkBuilder<T> builder =
                KafkaSink.<T>builder()
                        .setBootstrapServers(config.bootstrapServers())
                        .setKafkaProducerConfig(producerProperties(config, maxRequestBytes))
                        .setRecordSerializer(serializer);
        if (config.delivery() == KvstreamKafkaConfig.Delivery.EXACTLY_ONCE) {
            builder.setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                    .setTransactionalIdPrefix(config.transactionalIdPrefix() + "-" + name);
        } else {
            builder.setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE);
        }
        return builder.build();
    }

    static Properties producerProperties(KvstreamKafkaConfig config, int maxRequestBytes) {
        Properties props = config.clientProperties(Client.PRODUCER);
        props.putIfAbsent(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(maxRequestBytes));
        // Always set: KafkaSinkBuilder otherwise puts in 1 hour, above the broker's default
        // transaction.max.timeout.ms (15 min), and exactly-once then fails in InitProducerId.
        props.setProperty(
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG,
                String.valueOf(config.transactionTimeout().toMillis()));
        return props;
    }
}
