package io.kvstream.pipeline.operator;

import io.kvstream.tokenizer.ChatMessage;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.types.StringValue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes a {@link ChatState}: a format version byte, the messages (role, content), the unfed
 * tokens and the unfed text. Strings go through {@link StringValue}, which has no 64 KiB limit.
 */
public final class ChatStateSerializer extends TypeSerializerSingleton<ChatState> {

    private static final long serialVersionUID = 1L;

    public static final ChatStateSerializer INSTANCE = new ChatStateSerializer();

    private static final int VERSION = 1;

    @Override
    public boolean isImmutableType() {
        return true;
    }

    @Override
    public ChatState createInstance() {
        return ChatState.start("");
    }

    @Override
    public ChatState copy(ChatState from) {
        return from;
    }

    @Override
    public ChatState copy(ChatState from, ChatState reuse) {
        return from;
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(ChatState record, DataOutputView target) throws IOException {
        target.writeByte(VERSION);
        target.writeInt(record.messages().size());
        for (ChatMessage m : record.messages()) {
            StringValue.writeString(m.role(), target);
            StringValue.writeString(m.content(), target);
        }
        int[] unfed = record.unfedTokens();
        target.writeInt(unfed.length);
        for (int t : unfed) {
            target.writeInt(t);
        }
        StringValue.writeString(record.unfedText(), target);
    }

    @Override
    public ChatState deserialize(DataInputView source) throws IOException {
        int version = source.readByte();
        if (version != VERSION) {
            throw new IOException("Unknown chat state format version " + version);
        }
        int n = source.readInt();
        List<ChatMessage> messages = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            messages.add(new ChatMessage(StringValue.readString(source), StringValue.readString(source)));
        }
        int[] unfed = new int[source.readInt()];
        for (int i = 0; i < unfed.length; i++) {
            unfed[i] = source.readInt();
        }
        return new ChatState(messages, unfed, StringValue.readString(source));
    }

    @Override
    public ChatState deserialize(ChatState reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    @Override
    public TypeSerializerSnapshot<ChatState> snapshotConfiguration() {
        return new ChatStateSerializerSnapshot();
    }

    /** Serializer configuration snapshot for compatibility and format evolution. */
    public static final class ChatStateSerializerSnapshot extends SimpleTypeSerializerSnapshot<ChatState> {
        public ChatStateSerializerSnapshot() {
            super(() -> INSTANCE);
        }
    }
}
