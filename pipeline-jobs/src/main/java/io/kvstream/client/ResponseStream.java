package io.kvstream.client;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.KvstreamKafkaConfig.Client;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.codec.KvstreamCodecs;
import io.kvstream.schema.codec.MessageDecodingException;
import io.kvstream.schema.codec.SingleObjectCodec;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Every response on the responses topic from now on, whichever session it belongs to: for
 * clients that drive many sessions at once (replay, benchmarks), where one consumer per session
 * would not scale. No consumer group: nothing is committed and any number may read.
 */
public final class ResponseStream implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ResponseStream.class);

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final SingleObjectCodec<ResponseEvent> codec = KvstreamCodecs.responseEvents();

    private ResponseStream(KafkaConsumer<byte[], byte[]> consumer) {
        this.consumer = consumer;
    }

    /** Positioned at the end of every partition, so that it sees answers to what is sent next. */
    public static ResponseStream fromNow(KvstreamKafkaConfig config) {
        java.util.Properties props = config.clientProperties(Client.CONSUMER);
        props.setProperty(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        if (config.delivery() == KvstreamKafkaConfig.Delivery.EXACTLY_ONCE) {
            // Responses of aborted transactions, written again after a restart, would show twice.
            props.putIfAbsent(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        }
        KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        try {
            Duration timeout = Duration.ofSeconds(30);
            List<PartitionInfo> infos = consumer.partitionsFor(config.responsesTopic(), timeout);
            if (infos == null || infos.isEmpty()) {
                throw new IllegalStateException("Topic " + config.responsesTopic() + " does not exist");
            }
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo p : infos) {
                partitions.add(new TopicPartition(p.topic(), p.partition()));
            }
            consumer.assign(partitions);
            consumer.seekToEnd(partitions);
            // Seeks are lazy: resolve them now, before the caller sends anything.
            for (TopicPartition p : partitions) {
                consumer.position(p, timeout);
            }
            return new ResponseStream(consumer);
        } catch (RuntimeException e) {
            consumer.close();
            throw e;
        }
    }

    /** Responses that arrive within the timeout, in each partition's order; unreadable ones are skipped. */
    public List<ResponseEvent> poll(Duration timeout) {
        List<ResponseEvent> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> record : consumer.poll(timeout)) {
            try {
                out.add(codec.decode(record.value()));
            } catch (MessageDecodingException e) {
                LOG.warn("Skipping unreadable response at {}-{}@{}: {}",
                        record.topic(), record.partition(), record.offset(), e.getMessage());
            }
        }
        return out;
    }

    @Override
    public void close() {
        consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
    }
}
