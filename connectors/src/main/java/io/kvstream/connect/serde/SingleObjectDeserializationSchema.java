package io.kvstream.connect.serde;

import io.kvstream.schema.codec.SingleObjectCodec;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;

import java.io.IOException;

import static org.apache.flink.util.Preconditions.checkNotNull;

/**
 * Single-object decoding for a plain Flink {@link DeserializationSchema}. It throws on bad input
 * (a {@link io.kvstream.schema.codec.MessageDecodingException}); the Kafka source uses {@link
 * DecodingKafkaDeserializer}, which turns bad input into dead letters instead.
 */
public final class SingleObjectDeserializationSchema<T extends SpecificRecord>
        implements DeserializationSchema<T> {

    private static final long serialVersionUID = 1L;

    private final Class<T> type;
    private transient SingleObjectCodec<T> codec;

    public SingleObjectDeserializationSchema(Class<T> type) {
        this.type = checkNotNull(type);
    }

    @Override
    public void open(InitializationContext context) {
        codec = SingleObjectCodec.forSpecific(type);
    }

    @Override
    public T deserialize(byte[] message) throws IOException {
        if (codec == null) {
            codec = SingleObjectCodec.forSpecific(type);
        }
        return codec.decode(message);
    }

    @Override
    public boolean isEndOfStream(T nextElement) {
        return false;
    }

    @Override
    public TypeInformation<T> getProducedType() {
        return SingleObjectTypeInfo.forRecord(type);
    }
}
