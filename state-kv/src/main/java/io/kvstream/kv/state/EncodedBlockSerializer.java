package io.kvstream.kv.state;

import io.kvstream.kv.block.EncodedBlock;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;

/**
 * An {@link EncodedBlock} as one state value: block index, length, then the block bytes (which
 * carry their own format version and checksum, so this framing never needs to change).
 */
public final class EncodedBlockSerializer extends TypeSerializerSingleton<EncodedBlock> {

    private static final long serialVersionUID = 1L;

    public static final EncodedBlockSerializer INSTANCE = new EncodedBlockSerializer();

    private static final byte[] EMPTY = new byte[0];

    /** Bytes {@link #serialize} writes for a block of this many bytes. */
    public static int serializedSize(int blockBytes) {
        return 8 + blockBytes;
    }

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public EncodedBlock createInstance() {
        return new EncodedBlock(0, EMPTY);
    }

    @Override
    public EncodedBlock copy(EncodedBlock from) {
        return new EncodedBlock(from.index(), from.bytes().clone());
    }

    @Override
    public EncodedBlock copy(EncodedBlock from, EncodedBlock reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(EncodedBlock record, DataOutputView target) throws IOException {
        target.writeInt(record.index());
        target.writeInt(record.bytes().length);
        target.write(record.bytes());
    }

    @Override
    public EncodedBlock deserialize(DataInputView source) throws IOException {
        int index = source.readInt();
        int length = source.readInt();
        if (index < 0 || length < 0) {
            throw new IOException("bad block framing: index " + index + ", length " + length);
        }
        byte[] bytes = new byte[length];
        source.readFully(bytes);
        return new EncodedBlock(index, bytes);
    }

    @Override
    public EncodedBlock deserialize(EncodedBlock reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        target.writeInt(source.readInt());
        int length = source.readInt();
        target.writeInt(length);
        target.write(source, length);
    }

    @Override
    public TypeSerializerSnapshot<EncodedBlock> snapshotConfiguration() {
        return new EncodedBlockSerializerSnapshot();
    }

    /** Serializer configuration snapshot for compatibility and format evolution. */
    public static final class EncodedBlockSerializerSnapshot extends SimpleTypeSerializerSnapshot<EncodedBlock> {
        public EncodedBlockSerializerSnapshot() {
            super(() -> INSTANCE);
        }
    }
}
