package io.kvstream.connect.serde;

import io.kvstream.connect.Decoded;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeutils.TypeSerializer;

/** Type information of {@link Decoded} values of a generated Avro record, without Kryo. */
public final class DecodedTypeInfo<T extends SpecificRecord> extends AvroRecordTypeInfo<Decoded<T>, T> {

    private static final long serialVersionUID = 1L;

    private DecodedTypeInfo(Class<T> valueType) {
        super(valueType);
    }

    public static <T extends SpecificRecord> DecodedTypeInfo<T> forValues(Class<T> valueType) {
        return new DecodedTypeInfo<>(valueType);
    }

    public Class<T> valueType() {
        return recordType;
    }

    @Override
    @SuppressWarnings("unchecked")
    public Class<Decoded<T>> getTypeClass() {
        return (Class<Decoded<T>>) (Class<?>) Decoded.class;
    }

    @Override
    public TypeSerializer<Decoded<T>> createSerializer(SerializerConfig config) {
        return new DecodedSerializer<>(recordType);
    }

    @Override
    public String toString() {
        return "Decoded<" + recordType.getName() + ">";
    }
}
