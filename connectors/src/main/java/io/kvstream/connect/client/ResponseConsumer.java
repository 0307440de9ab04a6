package io.kvstream.connect.client;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.KvstreamKafkaConfig.Client;
import io.kvstream.connect.serde.KeyedKafkaSerializer;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.codec.KvstreamCodecs;
import io.kvstream.schema.codec.MessageDecodingException;
import io.kvstream.schema.codec.SingleObjectCodec;

import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.utils.Utils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeoutException;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkNotNull;

/**
 * Reads the responses of one session. Responses are keyed by session id, so they are all in one
 * partition of the responses topic; this consumer reads only that partition, without a consumer
 * group (nothing is committed, any number of clients may watch a session). Not thread-safe.
 *
 * <p>Start it before sending the request whose answer it waits for: by default it reads from the
 * partition's end as of its creation.
 */
public final class ResponseConsumer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ResponseConsumer.class);

    private final Consumer<byte[], byte[]> consumer;
    private final String sessionId;
    private final TopicPartition partition;
    private final SingleObjectCodec<ResponseEvent> codec;
    /** Responses read while waiting for another event's answer, handed out later. */
    private final ArrayDeque<ResponseEvent> pending = new ArrayDeque<>();
    private long skipped;

    ResponseConsumer(
            Consumer<byte[], byte[]> consumer,
            String topic,
            String sessionId,
            boolean fromBeginning,
            Duration timeout) {
        this.consumer = checkNotNull(consumer);
        this.sessionId = checkNotNull(sessionId);
        this.codec = KvstreamCodecs.responseEvents();
        List<PartitionInfo> partitions = consumer.partitionsFor(topic, timeout);
        checkArgument(
                partitions != null && !partitions.isEmpty(), "Topic %s does not exist", topic);
        this.partition = new TopicPartition(topic, partitionFor(sessionId, partitions.size()));
        consumer.assign(List.of(partition));
        if (fromBeginning) {
            consumer.seekToBeginning(List.of(partition));
        } else {
            consumer.seekToEnd(List.of(partition));
        }
        // Seeks are lazy: resolve now, so that responses to requests sent after this are seen.
        consumer.position(partition, timeout);
    }

    /** A consumer of the session's responses from now on. */
    public static ResponseConsumer forSession(KvstreamKafkaConfig config, String sessionId) {
        return forSession(config, sessionId, false);
    }

    /** @param fromBeginning read the session's responses still retained, not only new ones */
    public static ResponseConsumer forSession(
            KvstreamKafkaConfig config, String sessionId, boolean fromBeginning) {
        Properties props = config.clientProperties(Client.CONSUMER);
        props.setProperty(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        if (config.delivery() == KvstreamKafkaConfig.Delivery.EXACTLY_ONCE) {
            // Otherwise responses of aborted transactions, written again after a restart, show twice.
            props.putIfAbsent(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        }
        KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        try {
            return new ResponseConsumer(
                    consumer,
                    config.responsesTopic(),
                    sessionId,
                    fromBeginning,
                    Duration.ofSeconds(30));
        } catch (RuntimeException e) {
            consumer.close();
            throw e;
        }
    }

    /** The partition Kafka's default partitioner picks for a session's key. */
    public static int partitionFor(String sessionId, int partitions) {
        return Utils.toPositive(Utils.murmur2(KeyedKafkaSerializer.sessionKey(sessionId)))
                % partitions;
    }

    public TopicPartition partition() {
        return partition;
    }

    /** Records of the partition that were not readable responses: logged and passed over. */
    public long skippedRecords() {
        return skipped;
    }

    /** This session's responses that arrive within the timeout (maybe none), in order. */
    public List<ResponseEvent> poll(Duration timeout) {
        List<ResponseEvent> out = new ArrayList<>(pending);
        pending.clear();
        if (out.isEmpty()) {
            readInto(out, timeout);
        }
        return out;
    }

    /**
     * Waits for the answer to one event: hands each of its responses to {@code onResponse} as it
     * arrives (token deltas first) and returns the last one, a {@link FinalResponse} or an {@link
     * ErrorEvent}. Responses to other events of the session are kept for {@link #poll}.
     */
    public ResponseEvent awaitFinal(
            String eventId, Duration timeout, java.util.function.Consumer<ResponseEvent> onResponse)
            throws TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ArrayDeque<ResponseEvent> others = new ArrayDeque<>();
        try {
            List<ResponseEvent> batch = new ArrayList<>(pending);
            pending.clear();
            while (true) {
                for (Iterator<ResponseEvent> it = batch.iterator(); it.hasNext(); ) {
                    ResponseEvent r = it.next();
                    if (!eventId.equals(r.getEventId())) {
                        others.add(r);
                        continue;
                    }
                    onResponse.accept(r);
                    if (r.getPayload() instanceof FinalResponse
                            || r.getPayload() instanceof ErrorEvent) {
                        // Keep what came after it in order for the next call.
                        it.forEachRemaining(others::add);
                        return r;
                    }
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException(
                            "No final response to event " + eventId + " of session " + sessionId
                                    + " within " + timeout);
                }
                batch = new ArrayList<>();
                readInto(batch, Duration.ofNanos(Math.min(left, Duration.ofMillis(200).toNanos())));
            }
        } finally {
            others.addAll(pending);
            pending.clear();
            pending.addAll(others);
        }
    }

    private void readInto(List<ResponseEvent> out, Duration timeout) {
        for (ConsumerRecord<byte[], byte[]> record : consumer.poll(timeout)) {
            ResponseEvent response;
            try {
                response = codec.decode(record.value());
            } catch (MessageDecodingException e) {
                skipped++;
                LOG.warn("Skipping unreadable response at {}@{}: {}", partition, record.offset(), e.getMessage());
                continue;
            }
            // Other sessions share the partition.
            if (sessionId.equals(response.getSessionId())) {
                out.add(response);
            }
        }
    }

    @Override
    public void close() {
        consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
    }
}
