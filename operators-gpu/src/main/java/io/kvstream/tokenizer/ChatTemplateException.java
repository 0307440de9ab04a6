package io.kvstream.tokenizer;

/** A chat template that does not parse, or that failed (or raised) while rendering. */
public class ChatTemplateException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public ChatTemplateException(String message) {
        super(message);
    }

    public ChatTemplateException(String message, Throwable cause) {
        super(message, cause);
    }
}
