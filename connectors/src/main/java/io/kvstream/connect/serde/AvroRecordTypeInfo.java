package io.kvstream.connect.serde;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.api.common.typeinfo.TypeInformation;

import static org.apache.flink.util.Preconditions.checkNotNull;

/**
 * Type information of a value that Flink treats as one opaque field and that is made of a
 * generated Avro record: what it is depends only on the record class, and its own serializer
 * keeps it out of Kryo.
 *
 * @param <T> the value Flink sees
 * @param <R> the Avro record it holds
 */
abstract class AvroRecordTypeInfo<T, R extends SpecificRecord> extends TypeInformation<T> {

    private static final long serialVersionUID = 1L;

    protected final Class<R> recordType;

    AvroRecordTypeInfo(Class<R> recordType) {
        this.recordType = checkNotNull(recordType);
    }

    @Override
    public final boolean isBasicType() {
        return false;
    }

    @Override
    public final boolean isTupleType() {
        return false;
    }

    @Override
    public final int getArity() {
        return 1;
    }

    @Override
    public final int getTotalFields() {
        return 1;
    }

    @Override
    public final boolean isKeyType() {
        return false;
    }

    @Override
    public final boolean equals(Object o) {
        return o != null && o.getClass() == getClass()
                && ((AvroRecordTypeInfo<?, ?>) o).recordType.equals(recordType);
    }

    @Override
    public final int hashCode() {
        return 31 * getClass().hashCode() + recordType.hashCode();
    }

    @Override
    public final boolean canEqual(Object o) {
        return o != null && o.getClass() == getClass();
    }
}
