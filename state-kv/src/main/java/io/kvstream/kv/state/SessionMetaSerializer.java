package io.kvstream.kv.state;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;

/**
 * {@link SessionMeta}: token count, next position, spec (UTF), block format version, then the
 * token history as a length and ints. {@link SessionMeta#serializedSize} mirrors this layout.
 */
public final class SessionMetaSerializer extends TypeSerializerSingleton<SessionMeta> {

    private static final long serialVersionUID = 1L;

    public static final SessionMetaSerializer INSTANCE = new SessionMetaSerializer();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public SessionMeta createInstance() {
        return new SessionMeta(0, 0, "", 0, new int[0]);
    }

    @Override
    public SessionMeta copy(SessionMeta from) {
        return new SessionMeta(
                from.tokens(), from.nextPosition(), from.spec(), from.formatVersion(), from.history().clone());
    }

    @Override
    public SessionMeta copy(SessionMeta from, SessionMeta reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(SessionMeta record, DataOutputView target) throws IOException {
        target.writeInt(record.tokens());
        target.writeInt(record.nextPosition());
        target.writeUTF(record.spec());
        target.writeInt(record.formatVersion());
        int[] history = record.history();
        target.writeInt(history.length);
        for (int id : history) {
            target.writeInt(id);
        }
    }

    @Override
    public SessionMeta deserialize(DataInputView source) throws IOException {
        int tokens = source.readInt();
        int nextPosition = source.readInt();
        String spec = source.readUTF();
        int formatVersion = source.readInt();
        int length = source.readInt();
        if (tokens < 0 || nextPosition < 0 || length < 0) {
            throw new IOException(String.format(
                    "bad session metadata: tokens %d, position %d, history %d", tokens, nextPosition, length));
        }
        int[] history = new int[length];
        for (int i = 0; i < length; i++) {
            history[i] = source.readInt();
        }
        return new SessionMeta(tokens, nextPosition, spec, formatVersion, history);
    }

    @Override
    public SessionMeta deserialize(SessionMeta reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        target.writeInt(source.readInt());
        target.writeInt(source.readInt());
        target.writeUTF(source.readUTF());
        target.writeInt(source.readInt());
        int length = source.readInt();
        target.writeInt(length);
        target.write(source, 4 * length);
    }

    @Override
    public TypeSerializerSnapshot<SessionMeta> snapshotConfiguration() {
        return new SessionMetaSerializerSnapshot();
    }

    /** Serializer configuration snapshot for compatibility and format evolution. */
    public static final class SessionMetaSerializerSnapshot extends SimpleTypeSerializerSnapshot<SessionMeta> {
        public SessionMetaSerializerSnapshot() {
            super(() -> INSTANCE);
        }
    }
}
