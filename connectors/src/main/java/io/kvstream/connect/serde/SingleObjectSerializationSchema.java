package io.kvstream.connect.serde;

import io.kvstream.schema.codec.SingleObjectCodec;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.api.common.serialization.SerializationSchema;

import static org.apache.flink.util.Preconditions.checkNotNull;

/** Single-object encoding for a plain Flink {@link SerializationSchema}. */
public final class SingleObjectSerializationSchema<T extends SpecificRecord>
        implements SerializationSchema<T> {

    private static final long serialVersionUID = 1L;

    private final Class<T> type;
    private transient SingleObjectCodec<T> codec;

    public SingleObjectSerializationSchema(Class<T> type) {
        this.type = checkNotNull(type);
    }

    @Override
    public void open(InitializationContext context) {
        codec = SingleObjectCodec.forSpecific(type);
    }

    @Override
    public byte[] serialize(T element) {
        if (codec == null) {
            codec = SingleObjectCodec.forSpecific(type);
        }
        return codec.encode(element);
    }
}
