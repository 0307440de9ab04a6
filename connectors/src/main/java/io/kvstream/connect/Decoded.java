package io.kvstream.connect;

import io.kvstream.schema.DeadLetter;

import javax.annotation.Nullable;

import java.util.Objects;

import static org.apache.flink.util.Preconditions.checkNotNull;
import static org.apache.flink.util.Preconditions.checkState;

/**
 * What the Kafka source makes of one record: the decoded value, or the {@link DeadLetter} that
 * keeps the undecodable record for the dead-letter topic. The source emits both, so that bad input
 * flows on as data instead of failing the job; {@link DeadLetterRouting} splits them.
 */
public final class Decoded<T> {

    @Nullable private final T value;
    @Nullable private final DeadLetter deadLetter;

    private Decoded(@Nullable T value, @Nullable DeadLetter deadLetter) {
        this.value = value;
        this.deadLetter = deadLetter;
    }

    public static <T> Decoded<T> of(T value) {
        return new Decoded<>(checkNotNull(value, "value"), null);
    }

    public static <T> Decoded<T> failed(DeadLetter deadLetter) {
        return new Decoded<>(null, checkNotNull(deadLetter, "deadLetter"));
    }

    public boolean isValue() {
        return value != null;
    }

    public T value() {
        checkState(value != null, "Not a value but a dead letter: %s", deadLetter);
        return value;
    }

    public DeadLetter deadLetter() {
        checkState(deadLetter != null, "Not a dead letter but a value");
        return deadLetter;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Decoded)) {
            return false;
        }
        Decoded<?> that = (Decoded<?>) o;
        return Objects.equals(value, that.value) && Objects.equals(deadLetter, that.deadLetter);
    }

    @Override
    public int hashCode() {
        return Objects.hash(value, deadLetter);
    }

    @Override
    public String toString() {
        return value != null ? "Decoded{" + value + '}' : "Decoded{dead letter: " + deadLetter + '}';
    }
}
