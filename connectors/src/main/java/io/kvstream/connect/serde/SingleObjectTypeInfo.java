package io.kvstream.connect.serde;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeutils.TypeSerializer;

/**
 * Flink type information for a generated Avro record, serialized with single-object encoding: the
 * writer's schema fingerprint travels with every value, so state written by an older schema version
 * restores as long as that version is in the record's history. Keeps such records out of Kryo.
 */
public final class SingleObjectTypeInfo<T extends SpecificRecord> extends AvroRecordTypeInfo<T, T> {

    private static final long serialVersionUID = 1L;

    private SingleObjectTypeInfo(Class<T> type) {
        super(type);
    }

    public static <T extends SpecificRecord> SingleObjectTypeInfo<T> forRecord(Class<T> type) {
        return new SingleObjectTypeInfo<>(type);
    }

    @Override
    public Class<T> getTypeClass() {
        return recordType;
    }

    @Override
    public TypeSerializer<T> createSerializer(SerializerConfig config) {
        return new SingleObjectTypeSerializer<>(recordType);
    }

    @Override
    public String toString() {
        return "SingleObject<" + recordType.getName() + ">";
    }
}
