package io.kvstream.connect.serde;

import javax.annotation.Nullable;

import java.io.Serializable;

/**
 * What makes a decoded record unusable although it decoded: checked at the source, where the
 * Kafka key is still at hand, so that such a record becomes a dead letter naming the problem.
 */
@FunctionalInterface
public interface RecordCheck<T> extends Serializable {

    /** @return why the record cannot be served, or null when it can */
    @Nullable
    String problem(@Nullable byte[] key, T value);

    static <T> RecordCheck<T> none() {
        return (key, value) -> null;
    }
}
