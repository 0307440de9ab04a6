package io.kvstream.it.reliability;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.codec.KvstreamCodecs;
import io.kvstream.schema.codec.MessageDecodingException;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Everything the job wrote to the responses and dead-letter topics, all partitions, from the
 * beginning, as a {@code read_committed} client sees it. The reliability tests judge the job by
 * the whole output, not by one session's partition: an answer filed under the wrong session, or
 * one to a request nobody made, must be seen too.
 */
final class OutputLog implements AutoCloseable {

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String responsesTopic;
    private final List<TopicPartition> partitions = new ArrayList<>();
    private final List<ResponseEvent> responses = new ArrayList<>();
    private final List<DeadLetter> deadLetters = new ArrayList<>();
    /** Final responses by event id, in arrival order; more than one per id is a repeat. */
    private final Map<String, List<FinalResponse>> finals = new LinkedHashMap<>();

    OutputLog(KvstreamKafkaConfig kafka) {
        Properties props = kafka.clientProperties(KvstreamKafkaConfig.Client.CONSUMER);
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        props.setProperty(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.setProperty(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.setProperty(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
        consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        responsesTopic = kafka.responsesTopic();
        for (String topic : List.of(kafka.responsesTopic(), kafka.deadLettersTopic())) {
            for (PartitionInfo p : consumer.partitionsFor(topic, Duration.ofSeconds(30))) {
                partitions.add(new TopicPartition(topic, p.partition()));
            }
        }
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
    }

    /** Reads what arrives within {@code timeout}. */
    void poll(Duration timeout) {
        try {
            read(timeout);
        } catch (MessageDecodingException e) {
            throw new AssertionError("The job wrote a record nobody can read", e);
        }
    }

    private void read(Duration timeout) throws MessageDecodingException {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(timeout)) {
            if (r.topic().equals(responsesTopic)) {
                ResponseEvent response = KvstreamCodecs.responseEvents().decode(r.value());
                responses.add(response);
                if (response.getPayload() instanceof FinalResponse f) {
                    finals.computeIfAbsent(response.getEventId(), k -> new ArrayList<>()).add(f);
                }
            } else {
                deadLetters.add(KvstreamCodecs.deadLetters().decode(r.value()));
            }
        }
    }

    /** Reads until {@code done}, or fails naming {@code what} once {@code timeout} has passed. */
    void awaitUntil(BooleanSupplier done, Duration timeout, Supplier<String> what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Not within " + timeout.toSeconds() + " s: " + what.get());
            }
            poll(Duration.ofMillis(200));
        }
    }

    /** Reads up to what is committed now, in every partition: nothing written so far is left out. */
    void catchUp(Duration timeout) {
        Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, timeout);
        awaitUntil(() -> ends.entrySet().stream().allMatch(e -> consumer.position(e.getKey()) >= e.getValue()),
                timeout, () -> "reading up to the committed end offsets " + ends);
    }

    /** Whether the event has a final response. */
    boolean answered(String eventId) {
        return finals.containsKey(eventId);
    }

    /** The event's final responses so far: one, once answered, unless the job repeats itself. */
    List<FinalResponse> finals(String eventId) {
        return finals.getOrDefault(eventId, List.of());
    }

    /** The text of the event's first final response. */
    String answer(String eventId) {
        return finals(eventId).get(0).getText().strip();
    }

    List<ResponseEvent> responses() {
        return responses;
    }

    List<DeadLetter> deadLetters() {
        return deadLetters;
    }

    @Override
    public void close() {
        consumer.close();
    }
}
