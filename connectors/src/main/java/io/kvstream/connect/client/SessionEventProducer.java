package io.kvstream.connect.client;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.KvstreamKafkaConfig.Client;
import io.kvstream.connect.serde.KeyedKafkaSerializer;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.codec.KvstreamCodecs;
import io.kvstream.schema.codec.SingleObjectCodec;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.time.Duration;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

import static org.apache.flink.util.Preconditions.checkNotNull;

/**
 * Sends {@link SessionEvent}s to the events topic, keyed by session id so that a session's events
 * land in one partition in the order sent. Idempotent producer with {@code acks=all}: a retry
 * neither duplicates nor reorders a session's events. Thread-safe, like the Kafka producer.
 */
public final class SessionEventProducer implements AutoCloseable {

    private final Producer<byte[], byte[]> producer;
    private final String topic;
    private final SingleObjectCodec<SessionEvent> codec;

    SessionEventProducer(Producer<byte[], byte[]> producer, String topic) {
        this.producer = checkNotNull(producer);
        this.topic = checkNotNull(topic);
        this.codec = KvstreamCodecs.sessionEvents();
    }

    public static SessionEventProducer create(KvstreamKafkaConfig config) {
        Properties props = config.clientProperties(Client.PRODUCER);
        props.setProperty(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.setProperty(ProducerConfig.ACKS_CONFIG, "all");
        props.putIfAbsent(
                ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(config.maxMessageBytes()));
        return new SessionEventProducer(
                new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer()),
                config.eventsTopic());
    }

    /** A new event with a random id, stamped now. */
    public static SessionEvent newEvent(String sessionId, Object payload) {
        return SessionEvent.newBuilder()
                .setEventId(UUID.randomUUID().toString())
                .setSessionId(checkNotNull(sessionId, "sessionId"))
                .setTimestampMs(System.currentTimeMillis())
                .setPayload(checkNotNull(payload, "payload"))
                .build();
    }

    /**
     * Sends one event. The future completes when the broker has it; encoding errors (a required
     * field left null) are thrown here, before anything is sent.
     */
    public CompletableFuture<RecordMetadata> send(SessionEvent event) {
        byte[] value = codec.encode(event);
        ProducerRecord<byte[], byte[]> record =
                new ProducerRecord<>(
                        topic,
                        null,
                        event.getTimestampMs(),
                        KeyedKafkaSerializer.sessionKey(event.getSessionId()),
                        value);
        CompletableFuture<RecordMetadata> result = new CompletableFuture<>();
        producer.send(
                record,
                (metadata, error) -> {
                    if (error != null) {
                        result.completeExceptionally(error);
                    } else {
                        result.complete(metadata);
                    }
                });
        return result;
    }

    /** Sends a new event for the payload; returns the event (its id identifies the responses). */
    public SessionEvent send(String sessionId, Object payload) {
        SessionEvent event = newEvent(sessionId, payload);
        send(event);
        return event;
    }

    public void flush() {
        producer.flush();
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(30));
    }
}
