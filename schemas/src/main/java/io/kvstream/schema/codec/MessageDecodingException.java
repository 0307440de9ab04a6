package io.kvstream.schema.codec;

import java.io.IOException;

/**
 * A message could not be decoded: bad header, unknown writer schema, or malformed body. Checked,
 * so that every reader decides what to do with bad input (the pipeline turns it into a dead
 * letter) instead of letting it kill a task.
 */
public class MessageDecodingException extends IOException {

    private static final long serialVersionUID = 1L;

    public MessageDecodingException(String message, Throwable cause) {
        super(message, cause);
    }

    public MessageDecodingException(String message) {
        super(message);
    }
}
