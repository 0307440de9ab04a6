package io.kvstream.kv.state;

import org.apache.flink.api.common.typeutils.SerializerTestBase;
import org.apache.flink.api.common.typeutils.TypeSerializer;

class SessionMetaSerializerTest extends SerializerTestBase<SessionMeta> {

    @Override
    protected TypeSerializer<SessionMeta> createSerializer() {
        return SessionMetaSerializer.INSTANCE;
    }

    @Override
    protected int getLength() {
        return -1;
    }

    @Override
    protected Class<SessionMeta> getTypeClass() {
        return SessionMeta.class;
    }

    @Override
    protected SessionMeta[] getTestData() {
        int[] history = new int[5000];
        for (int i = 0; i < history.length; i++) {
            history[i] = (i * 7919) % 32000;
        }
        return new SessionMeta[] {
            SessionMeta.of(0, 0, "full", 1, "", 0),
            SessionMeta.of(3, 3, "kivi2", 1, "0123456789abcdef0123456789abcdef", 3),
            SessionMeta.of(5000, 260, "kivi2+window:sink=4,recent=256", 1, "f", 5000),
            // As the first format stored it: read, copied and written back with its history.
            new SessionMeta(0, 0, "full", 1, "", 0, new int[0]),
            new SessionMeta(5000, 260, "kivi2+window:sink=4,recent=256", 1, "", 5000, history),
        };
    }
}
