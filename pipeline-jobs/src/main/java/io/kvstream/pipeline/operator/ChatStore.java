package io.kvstream.pipeline.operator;

import io.kvstream.tokenizer.ChatMessage;

import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;

import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.List;

/**
 * Where the current session's {@link ChatState} lives in keyed state: its messages as a list that
 * grows by appends (RocksDB merges an append without rewriting the list), and the small unfed
 * part beside it. A turn so writes its own messages, not the whole conversation again.
 *
 * <p>State written before this layout holds the whole {@link ChatState} under {@code chat}; it is
 * read as it is and moved to the new layout by the session's next write.
 */
final class ChatStore {

    private final ValueState<ChatState> legacy;
    private final ListState<ChatMessage> messages;
    /** The unfed tokens and text, as a {@link ChatState} without messages. */
    private final ValueState<ChatState> unfed;

    ChatStore(RuntimeContext context) {
        this.legacy = context.getState(new ValueStateDescriptor<>("chat", ChatStateSerializer.INSTANCE));
        this.messages = context.getListState(new ListStateDescriptor<>("chat-messages", ChatMessageSerializer.INSTANCE));
        this.unfed = context.getState(new ValueStateDescriptor<>("chat-unfed", ChatStateSerializer.INSTANCE));
    }

    /** The session's chat state, or null for a session that holds none. */
    @Nullable
    ChatState load() throws Exception {
        ChatState old = legacy.value();
        if (old != null) {
            return old;
        }
        ChatState tail = unfed.value();
        if (tail == null) {
            return null;
        }
        List<ChatMessage> all = new ArrayList<>();
        Iterable<ChatMessage> stored = messages.get();
        if (stored != null) {
            stored.forEach(all::add);
        }
        return new ChatState(all, tail.unfedTokens(), tail.unfedText());
    }

    /**
     * Stores {@code after}, whose messages extend the {@code storedMessages} the session held.
     */
    void save(int storedMessages, ChatState after) throws Exception {
        List<ChatMessage> all = after.messages();
        if (legacy.value() != null) {
            legacy.clear();
            messages.update(all);
        } else if (all.size() > storedMessages) {
            messages.addAll(all.subList(storedMessages, all.size()));
        }
        unfed.update(new ChatState(List.of(), after.unfedTokens(), after.unfedText()));
    }

    void clear() {
        legacy.clear();
        messages.clear();
        unfed.clear();
    }
}
