package io.kvstream.connect.serde;

import io.kvstream.connect.Decoded;
import io.kvstream.schema.DeadLetter;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.util.InstantiationUtil;

import java.io.IOException;

import static org.apache.flink.util.Preconditions.checkNotNull;

/** A tag byte (1: value, 0: dead letter), then the single-object encoded record. */
public final class DecodedSerializer<T extends SpecificRecord> extends TypeSerializer<Decoded<T>> {

    private static final long serialVersionUID = 1L;

    private final SingleObjectTypeSerializer<T> values;
    private final SingleObjectTypeSerializer<DeadLetter> deadLetters;

    public DecodedSerializer(Class<T> valueType) {
        this.values = new SingleObjectTypeSerializer<>(checkNotNull(valueType));
        this.deadLetters = new SingleObjectTypeSerializer<>(DeadLetter.class);
    }

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public TypeSerializer<Decoded<T>> duplicate() {
        return this;
    }

    @Override
    public Decoded<T> createInstance() {
        return null;
    }

    @Override
    public Decoded<T> copy(Decoded<T> from) {
        if (from == null) {
            return null;
        }
        return from.isValue()
                ? Decoded.of(values.copy(from.value()))
                : Decoded.failed(deadLetters.copy(from.deadLetter()));
    }

    @Override
    public Decoded<T> copy(Decoded<T> from, Decoded<T> reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(Decoded<T> record, DataOutputView target) throws IOException {
        if (record.isValue()) {
            target.writeByte(1);
            values.serialize(record.value(), target);
        } else {
            target.writeByte(0);
            deadLetters.serialize(record.deadLetter(), target);
        }
    }

    @Override
    public Decoded<T> deserialize(DataInputView source) throws IOException {
        byte tag = source.readByte();
        switch (tag) {
            case 1:
                return Decoded.of(values.deserialize(source));
            case 0:
                return Decoded.failed(deadLetters.deserialize(source));
            default:
                throw new IOException("Corrupt Decoded: tag " + tag);
        }
    }

    @Override
    public Decoded<T> deserialize(Decoded<T> reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        byte tag = source.readByte();
        target.writeByte(tag);
        // Both branches are an int length and that many bytes.
        values.copy(source, target);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DecodedSerializer && ((DecodedSerializer<?>) o).values.equals(values);
    }

    @Override
    public int hashCode() {
        return values.hashCode() + 1;
    }

    @Override
    public TypeSerializerSnapshot<Decoded<T>> snapshotConfiguration() {
        return new Snapshot<>(values.type());
    }

    /** Records the value class; see {@link SingleObjectTypeSerializer.Snapshot}. */
    public static final class Snapshot<T extends SpecificRecord>
            implements TypeSerializerSnapshot<Decoded<T>> {

        private Class<T> valueType;

        /** For Flink's reflective restore. */
        public Snapshot() {}

        Snapshot(Class<T> valueType) {
            this.valueType = valueType;
        }

        @Override
        public int getCurrentVersion() {
            return 1;
        }

        @Override
        public void writeSnapshot(DataOutputView out) throws IOException {
            out.writeUTF(valueType.getName());
        }

        @Override
        public void readSnapshot(int readVersion, DataInputView in, ClassLoader classLoader)
                throws IOException {
            this.valueType = InstantiationUtil.resolveClassByName(in, classLoader);
        }

        @Override
        public TypeSerializer<Decoded<T>> restoreSerializer() {
            return new DecodedSerializer<>(valueType);
        }

        @Override
        public TypeSerializerSchemaCompatibility<Decoded<T>> resolveSchemaCompatibility(
                TypeSerializerSnapshot<Decoded<T>> oldSnapshot) {
            if (oldSnapshot instanceof Snapshot
                    && ((Snapshot<?>) oldSnapshot).valueType.getName().equals(valueType.getName())) {
                return TypeSerializerSchemaCompatibility.compatibleAsIs();
            }
            return TypeSerializerSchemaCompatibility.incompatible();
        }
    }
}
