package io.kvstream.connect.serde;

import io.kvstream.schema.codec.MessageDecodingException;
import io.kvstream.schema.codec.SingleObjectCodec;

import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;

import static org.apache.flink.util.Preconditions.checkNotNull;

/** Kafka client serializers over a {@link SingleObjectCodec}, for the plain-client helpers. */
public final class SingleObjectKafkaSerde {

    private SingleObjectKafkaSerde() {}

    public static <T> Serializer<T> serializer(SingleObjectCodec<T> codec) {
        checkNotNull(codec);
        return (topic, data) -> data == null ? null : codec.encode(data);
    }

    /** Throws Kafka's {@link SerializationException} on bad input, with the decoding error as cause. */
    public static <T> Deserializer<T> deserializer(SingleObjectCodec<T> codec) {
        checkNotNull(codec);
        return (topic, data) -> {
            try {
                return codec.decode(data);
            } catch (MessageDecodingException e) {
                throw new SerializationException(e.getMessage(), e);
            }
        };
    }
}
