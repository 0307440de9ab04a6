package io.kvstream.tokenizer;

/**
 * One chat turn as chat templates see it: {@code message['role']} and {@code
 * message['content']}.
 */
public record ChatMessage(String role, String content) {

    public ChatMessage {
        if (role == null || role.isEmpty()) {
            throw new IllegalArgumentException("Chat message role must not be empty");
        }
        if (content == null) {
            throw new IllegalArgumentException(
                    String.format("Content of the '%s' message must not be null", role));
        }
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }
}
