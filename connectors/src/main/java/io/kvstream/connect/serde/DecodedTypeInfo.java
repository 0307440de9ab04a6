package io.kvstream.connect.serde;

import io.kvstream.connect.Decoded;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;

import static org.apache.flink.util.Preconditions.checkNotNull;

/** Type information of {@link Decoded} values of a generated Avro record, without Kryo. */
public final class DecodedTypeInfo<T extends SpecificRecord> extends TypeInformation<Decoded<T>> {

    private static final long serialVersionUID = 1L;

    private final Class<T> valueType;

    private DecodedTypeInfo(Class<T> valueType) {
        this.valueType = checkNotNull(valueType);
    }

    public static <T extends SpecificRecord> DecodedTypeInfo<T> forValues(Class<T> valueType) {
        return new DecodedTypeInfo<>(valueType);
    }

    public Class<T> valueType() {
        return valueType;
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
    @SuppressWarnings("unchecked")
    public Class<Decoded<T>> getTypeClass() {
        return (Class<Decoded<T>>) (Class<?>) Decoded.class;
    }

    @Override
    public boolean isKeyType() {
        return false;
    }

    @Override
    public TypeSerializer<Decoded<T>> createSerializer(SerializerConfig config) {
        return new DecodedSerializer<>(valueType);
    }

    @Override
    public String toString() {
        return "Decoded<" + valueType.getName() + ">";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DecodedTypeInfo && ((DecodedTypeInfo<?>) o).valueType.equals(valueType);
    }

    @Override
    public int hashCode() {
        return 31 * valueType.hashCode() + 7;
    }

    @Override
    public boolean canEqual(Object o) {
        return o instanceof DecodedTypeInfo;
    }
}
