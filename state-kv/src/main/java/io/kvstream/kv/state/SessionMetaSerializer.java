package io.kvstream.kv.state;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;

/**
 * {@link SessionMeta}. Since the second format: a negative format marker, token count, next
 * position, spec (UTF), block format version, model fingerprint (UTF), history length. The first
 * format (no marker: it starts with the token count, never negative) had no model and the history
 * inline after the block format version, as a length and ints; it is still read, so state written
 * by an older job restores, and the next write moves its history into {@link HistoryChunks}.
 */
public final class SessionMetaSerializer extends TypeSerializerSingleton<SessionMeta> {

    private static final long serialVersionUID = 1L;

    /** What a record of the second format starts with. */
    private static final int FORMAT_2 = -2;

    public static final SessionMetaSerializer INSTANCE = new SessionMetaSerializer();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public SessionMeta createInstance() {
        return SessionMeta.of(0, 0, "", 0, "", 0);
    }

    @Override
    public SessionMeta copy(SessionMeta from) {
        int[] inline = from.inlineHistory();
        return new SessionMeta(
                from.tokens(), from.nextPosition(), from.spec(), from.formatVersion(), from.model(),
                from.historyLength(), inline == null ? null : inline.clone());
    }

    @Override
    public SessionMeta copy(SessionMeta from, SessionMeta reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    /**
     * The current format, unless the record carries an inline history read from the first: that
     * is written back as it came, so no path through this serializer drops a history.
     */
    @Override
    public void serialize(SessionMeta record, DataOutputView target) throws IOException {
        int[] inline = record.inlineHistory();
        if (inline != null) {
            target.writeInt(record.tokens());
            target.writeInt(record.nextPosition());
            target.writeUTF(record.spec());
            target.writeInt(record.formatVersion());
            target.writeInt(inline.length);
            for (int id : inline) {
                target.writeInt(id);
            }
            return;
        }
        target.writeInt(FORMAT_2);
        target.writeInt(record.tokens());
        target.writeInt(record.nextPosition());
        target.writeUTF(record.spec());
        target.writeInt(record.formatVersion());
        target.writeUTF(record.model());
        target.writeInt(record.historyLength());
    }

    @Override
    public SessionMeta deserialize(DataInputView source) throws IOException {
        int first = source.readInt();
        if (first >= 0) {
            return deserializeFirstFormat(first, source);
        }
        if (first != FORMAT_2) {
            throw new IOException("unknown session metadata format " + (-first));
        }
        int tokens = source.readInt();
        int nextPosition = source.readInt();
        String spec = source.readUTF();
        int formatVersion = source.readInt();
        String model = source.readUTF();
        int historyLength = source.readInt();
        if (tokens < 0 || nextPosition < 0 || historyLength < 0) {
            throw new IOException(String.format(
                    "bad session metadata: tokens %d, position %d, history %d", tokens, nextPosition, historyLength));
        }
        return SessionMeta.of(tokens, nextPosition, spec, formatVersion, model, historyLength);
    }

    private static SessionMeta deserializeFirstFormat(int tokens, DataInputView source) throws IOException {
        int nextPosition = source.readInt();
        String spec = source.readUTF();
        int formatVersion = source.readInt();
        int length = source.readInt();
        if (nextPosition < 0 || length < 0) {
            throw new IOException(String.format(
                    "bad session metadata: tokens %d, position %d, history %d", tokens, nextPosition, length));
        }
        int[] history = new int[length];
        for (int i = 0; i < length; i++) {
            history[i] = source.readInt();
        }
        return new SessionMeta(tokens, nextPosition, spec, formatVersion, "", length, history);
    }

    @Override
    public SessionMeta deserialize(SessionMeta reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
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
