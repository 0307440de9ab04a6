package io.kvstream.model;

import java.io.IOException;

/**
 * A model file is malformed, truncated, or not what the loader expects. The message names the
 * file and, where one is involved, the tensor or key.
 */
public class ModelFormatException extends IOException {

    private static final long serialVersionUID = 1L;

    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A tensor the loader needs is not in {@code file}. */
    public static ModelFormatException missingTensor(Object file, String tensor) {
        return new ModelFormatException(String.format("%s: tensor '%s' is missing", file, tensor));
    }
}
