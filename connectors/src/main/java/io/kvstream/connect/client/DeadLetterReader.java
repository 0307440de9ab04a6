package io.kvstream.connect.client;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.KvstreamKafkaConfig.Client;
import io.kvstream.schema.DeadLetter;
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
import java.util.List;
import java.util.Properties;

import static org.apache.flink.util.Preconditions.checkArgument;

/**
 * Reads the dead-letter topic from its beginning, without a consumer group (nothing is committed),
 * and only what transactions committed: what a job wrote there, for inspection and tests.
 * A record there that is not a dead letter is an error, not skipped.
 */
public final class DeadLetterReader {

    private DeadLetterReader() {}

    /** The first {@code count} dead letters, or fewer if that many do not arrive within {@code timeout}. */
    public static List<DeadLetter> read(KvstreamKafkaConfig config, int count, Duration timeout)
            throws MessageDecodingException {
        checkArgument(count > 0, "count must be positive, got %s", count);
        Properties props = config.clientProperties(Client.CONSUMER);
        props.setProperty(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<DeadLetter> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo p : consumer.partitionsFor(config.deadLettersTopic(), timeout)) {
                partitions.add(new TopicPartition(p.topic(), p.partition()));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (out.size() < count && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    if (out.size() < count) {
                        out.add(KvstreamCodecs.deadLetters().decode(r.value()));
                    }
                }
            }
        }
        return out;
    }
}
