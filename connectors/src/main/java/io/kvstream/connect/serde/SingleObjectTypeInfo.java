package io.kvstream.connect.serde;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;

import static org.apache.flink.util.Preconditions.checkNotNull;

/**
 * Flink type information for a generated Avro record, serialized with single-object encoding: the
 * writer's schema fingerprint travels with every value, so state written by an older schema version
 * restores as long as that version is in the record's history. Keeps such records out of Kryo.
 */
public final class SingleObjectTypeInfo<T extends SpecificRecord> extends TypeInformation<T> {

    private static final long serialVersionUID = 1L;

    private final Class<T> type;

    private SingleObjectTypeInfo(Class<T> type) {
        this.type = checkNotNull(type);
    }

    public static <T extends SpecificRecord> SingleObjectTypeInfo<T> forRecord(Class<T> type) {
        return new SingleObjectTypeInfo<>(type);
    }

    @Override
    public boolean isBasicType() {
        return false;
    }

    @Override
    public boolean isTupleType() {
        return false;
    }

    @Override
    public int getArity() {
        return 1;
    }

    @Override
    public int getTotalFields() {
        return 1;
    }

    @Override
    public Class<T> getTypeClass() {
        return type;
    }

    @Override
    public boolean isKeyType() {
        return false;
    }

    @Override
    public TypeSerializer<T> createSerializer(SerializerConfig config) {
        return new SingleObjectTypeSerializer<>(type);
    }

    @Override
    public String toString() {
        return "SingleObject<" + type.getName() + ">";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SingleObjectTypeInfo && ((SingleObjectTypeInfo<?>) o).type.equals(type);
    }

    @Override
    public int hashCode() {
        return type.hashCode();
    }

    @Override
    public boolean canEqual(Object o) {
        return o instanceof SingleObjectTypeInfo;
    }
}
