package io.kvstream.pipeline.operator;

import static org.apache.flink.util.Preconditions.checkNotNull;

import io.kvstream.tokenizer.ChatMessage;

import java.util.Arrays;
import java.util.List;

/**
 * The chat side of a session: the messages its cache holds, as the chat template sees them, and
 * what the template renders for them that the cache does not hold yet.
 *
 * <p>Generation stops when the end-of-turn token is drawn, and a reply cut by its token limit
 * leaves its last drawn token unfed; the template, rendering the reply as an assistant message,
 * puts both there. They are fed at the start of the session's next prompt.
 *
 * @param messages the messages the session holds, in order
 * @param unfedTokens drawn tokens the cache does not hold yet, fed first
 * @param unfedText rendered text the cache does not hold yet, fed after {@code unfedTokens}; for
 *     a new session the template's rendering of no messages (the BOS)
 */
public record ChatState(List<ChatMessage> messages, int[] unfedTokens, String unfedText) {

    private static final int[] NONE = new int[0];

    public ChatState {
        messages = List.copyOf(checkNotNull(messages));
        checkNotNull(unfedTokens);
        checkNotNull(unfedText);
    }

    /** A session that holds nothing yet: its first prompt starts with {@code start} (the BOS). */
    public static ChatState start(String start) {
        return new ChatState(List.of(), NONE, start);
    }

    /** The same messages with everything fed. */
    public ChatState fed() {
        return new ChatState(messages, NONE, "");
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof ChatState)) {
            return false;
        }
        ChatState c = (ChatState) o;
        return messages.equals(c.messages) && Arrays.equals(unfedTokens, c.unfedTokens)
                && unfedText.equals(c.unfedText);
    }

    @Override
    public int hashCode() {
        return (messages.hashCode() * 31 + Arrays.hashCode(unfedTokens)) * 31 + unfedText.hashCode();
    }

    @Override
    public String toString() {
        return "ChatState{messages=" + messages.size() + ", unfedTokens=" + unfedTokens.length
                + ", unfedText=" + unfedText.length() + " chars}";
    }
}
