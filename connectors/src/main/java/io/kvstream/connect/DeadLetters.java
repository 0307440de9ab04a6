package io.kvstream.connect;

import io.kvstream.schema.DeadLetter;

import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.nio.ByteBuffer;

/** Turns Kafka records the pipeline cannot read into {@link DeadLetter}s. */
public final class DeadLetters {

    /** Errors longer than this are cut: a dead letter must stay small whatever the exception. */
    static final int MAX_ERROR_CHARS = 2000;

    private DeadLetters() {}

    /** The record byte for byte, where it came from and why it failed. */
    public static DeadLetter of(ConsumerRecord<byte[], byte[]> record, Throwable error) {
        return of(record, describe(error));
    }

    /** The record byte for byte, where it came from and why it cannot be served. */
    public static DeadLetter of(ConsumerRecord<byte[], byte[]> record, String error) {
        String cut = error.length() <= MAX_ERROR_CHARS ? error : error.substring(0, MAX_ERROR_CHARS) + "...";
        return DeadLetter.newBuilder()
                .setTopic(record.topic())
                .setPartition(record.partition())
                .setOffset(record.offset())
                .setKey(record.key() == null ? null : ByteBuffer.wrap(record.key()))
                .setValue(record.value() == null ? null : ByteBuffer.wrap(record.value()))
                .setError(cut)
                .setTimestampMs(record.timestamp())
                .setFailedAtMs(System.currentTimeMillis())
                .build();
    }

    public static String describe(Throwable error) {
        String text = error.getClass().getSimpleName() + ": " + error.getMessage();
        return text.length() <= MAX_ERROR_CHARS ? text : text.substring(0, MAX_ERROR_CHARS) + "...";
    }
}
