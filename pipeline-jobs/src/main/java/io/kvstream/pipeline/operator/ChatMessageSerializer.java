package io.kvstream.pipeline.operator;

import io.kvstream.tokenizer.ChatMessage;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.types.StringValue;

import java.io.IOException;

/**
 * One {@link ChatMessage}: a format version byte, role and content. An element of a session's
 * message list, which grows by appends so that a turn writes only its own messages.
 */
public final class ChatMessageSerializer extends TypeSerializerSingleton<ChatMessage> {

    private static final long serialVersionUID = 1L;

    public static final ChatMessageSerializer INSTANCE = new ChatMessageSerializer();

    private static final int VERSION = 1;

    @Override
    public boolean isImmutableType() {
        return true;
    }

    @Override
    public ChatMessage createInstance() {
        return ChatMessage.user("");
    }

    @Override
    public ChatMessage copy(ChatMessage from) {
        return from;
    }

    @Override
    public ChatMessage copy(ChatMessage from, ChatMessage reuse) {
        return from;
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(ChatMessage record, DataOutputView target) throws IOException {
        target.writeByte(VERSION);
        StringValue.writeString(record.role(), target);
        StringValue.writeString(record.content(), target);
    }

    @Override
    public ChatMessage deserialize(DataInputView source) throws IOException {
        int version = source.readByte();
        if (version != VERSION) {
            throw new IOException("Unknown chat message format version " + version);
        }
        return new ChatMessage(StringValue.readString(source), StringValue.readString(source));
    }

    @Override
    public ChatMessage deserialize(ChatMessage reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    @Override
    public TypeSerializerSnapshot<ChatMessage> snapshotConfiguration() {
        return new ChatMessageSerializerSnapshot();
    }

    /** Serializer configuration snapshot for compatibility and format evolution. */
    public static final class ChatMessageSerializerSnapshot extends SimpleTypeSerializerSnapshot<ChatMessage> {
        public ChatMessageSerializerSnapshot() {
            super(() -> INSTANCE);
        }
    }
}
