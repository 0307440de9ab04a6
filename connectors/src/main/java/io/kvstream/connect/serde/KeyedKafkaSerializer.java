package io.kvstream.connect.serde;

import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.util.function.SerializableFunction;
import org.apache.kafka.clients.producer.ProducerRecord;

import javax.annotation.Nullable;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static org.apache.flink.util.Preconditions.checkNotNull;

/**
 * Writes single-object encoded records to one topic with a key taken from each record. Records of
 * kvstream are keyed by session id (UTF-8) and no partition is set, so Kafka's default partitioner
 * (murmur2 of the key) puts a session's records in one partition, in order; {@link
 * io.kvstream.connect.client.ResponseConsumer} relies on that.
 */
public final class KeyedKafkaSerializer<T extends SpecificRecord>
        implements KafkaRecordSerializationSchema<T> {

    private static final long serialVersionUID = 1L;

    private final String topic;
    private final SingleObjectSerializationSchema<T> values;
    private final SerializableFunction<T, byte[]> keyOf;

    public KeyedKafkaSerializer(
            String topic, Class<T> type, SerializableFunction<T, byte[]> keyOf) {
        this.topic = checkNotNull(topic);
        this.values = new SingleObjectSerializationSchema<>(type);
        this.keyOf = checkNotNull(keyOf);
    }

    public static KeyedKafkaSerializer<ResponseEvent> responses(String topic) {
        return new KeyedKafkaSerializer<>(
                topic, ResponseEvent.class, r -> sessionKey(r.getSessionId()));
    }

    public static KeyedKafkaSerializer<SessionEvent> sessionEvents(String topic) {
        return new KeyedKafkaSerializer<>(
                topic, SessionEvent.class, e -> sessionKey(e.getSessionId()));
    }

    /** Dead letters keep the key they came with (null if none). */
    public static KeyedKafkaSerializer<DeadLetter> deadLetters(String topic) {
        return new KeyedKafkaSerializer<>(topic, DeadLetter.class, KeyedKafkaSerializer::originalKey);
    }

    /** The Kafka key of a session's records. */
    public static byte[] sessionKey(String sessionId) {
        return sessionId.getBytes(StandardCharsets.UTF_8);
    }

    @Nullable
    private static byte[] originalKey(DeadLetter deadLetter) {
        ByteBuffer key = deadLetter.getKey();
        if (key == null) {
            return null;
        }
        byte[] bytes = new byte[key.remaining()];
        key.duplicate().get(bytes);
        return bytes;
    }

    @Override
    public void open(
            SerializationSchema.InitializationContext context, KafkaSinkContext sinkContext) {
        values.open(context);
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(
            T element, KafkaSinkContext context, @Nullable Long timestamp) {
        return new ProducerRecord<>(
                topic, null, timestamp, keyOf.apply(element), values.serialize(element));
    }
}
