package io.kvstream.it.cluster;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.TokenDelta;
import io.kvstream.schema.codec.KvstreamCodecs;
import io.kvstream.schema.codec.MessageDecodingException;
import io.kvstream.schema.codec.SingleObjectCodec;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reads a whole responses topic, every partition from the beginning, in a thread of its own, and
 * keeps every final response (and error) per event id with the time it was read, and the time
 * the first token delta of each event was read. Unlike the per-session {@code ResponseConsumer},
 * it sees every record of the topic: a duplicated final response anywhere shows up here.
 *
 * <p>With {@code read_committed} it sees what an exactly-once client sees; with {@code
 * read_uncommitted} it sees tokens as soon as the job writes them, before their checkpoint
 * commits, which tells the failover test that generation is under way.
 */
public final class ResponseCollector implements AutoCloseable {

    /** A final response (or error) as read, and when. */
    public record Final(ResponseEvent event, long readAtMillis) {
        public FinalResponse response() {
            return event.getPayload() instanceof FinalResponse f ? f : null;
        }
    }

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final SingleObjectCodec<ResponseEvent> codec = KvstreamCodecs.responseEvents();
    private final Map<String, List<Final>> finals = new ConcurrentHashMap<>();
    private final Map<String, Long> firstDelta = new ConcurrentHashMap<>();
    private final AtomicLong undecodable = new AtomicLong();
    private final Thread thread;
    private volatile Throwable failure;
    private volatile boolean closed;

    public ResponseCollector(KvstreamKafkaConfig config, boolean readCommitted) {
        Properties p = new Properties();
        p.setProperty(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.setProperty(ConsumerConfig.ISOLATION_LEVEL_CONFIG, readCommitted ? "read_committed" : "read_uncommitted");
        p.setProperty(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.setProperty(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, String.valueOf(4 << 20));
        consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> partitions = new ArrayList<>();
        for (PartitionInfo info : consumer.partitionsFor(config.responsesTopic(), Duration.ofSeconds(30))) {
            partitions.add(new TopicPartition(info.topic(), info.partition()));
        }
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        thread = new Thread(this::run, "responses-" + config.responsesTopic() + (readCommitted ? "-committed" : "-uncommitted"));
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        try {
            while (!closed) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    ResponseEvent r;
                    try {
                        r = codec.decode(record.value());
                    } catch (MessageDecodingException e) {
                        undecodable.incrementAndGet();
                        continue;
                    }
                    long now = System.currentTimeMillis();
                    if (r.getPayload() instanceof FinalResponse || r.getPayload() instanceof ErrorEvent) {
                        finals.computeIfAbsent(r.getEventId(), k -> new CopyOnWriteArrayList<>()).add(new Final(r, now));
                    } else if (r.getPayload() instanceof TokenDelta) {
                        firstDelta.putIfAbsent(r.getEventId(), now);
                    }
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (Throwable t) {
            failure = t;
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** All finals read for the event (more than one is a duplicate). */
    public List<Final> finals(String eventId) {
        check();
        return List.copyOf(finals.getOrDefault(eventId, List.of()));
    }

    /** How many of the events have at least one final response. */
    public int answered(Collection<String> eventIds) {
        check();
        return (int) eventIds.stream().filter(finals::containsKey).count();
    }

    /** Whether a token delta of any of the events has been read. */
    public boolean anyDelta(Collection<String> eventIds) {
        check();
        return eventIds.stream().anyMatch(firstDelta::containsKey);
    }

    /** Event ids with a final response, with the time its first final was read. */
    public Map<String, Long> firstFinalTimes() {
        check();
        Map<String, Long> out = new java.util.HashMap<>();
        finals.forEach((id, list) -> out.put(id, list.get(0).readAtMillis()));
        return out;
    }

    /** Event ids with a final response (or error) read so far. */
    public Set<String> answeredIds() {
        check();
        return new HashSet<>(finals.keySet());
    }

    public long undecodable() {
        return undecodable.get();
    }

    /** Waits until every event has a final response; throws with what is missing otherwise. */
    public void awaitAll(Collection<String> eventIds, Duration timeout, Runnable onWait) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (answered(eventIds) < eventIds.size()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(answered(eventIds) + " of " + eventIds.size()
                        + " requests answered within " + timeout);
            }
            onWait.run();
            Thread.sleep(100);
        }
    }

    private void check() {
        if (failure != null) {
            throw new IllegalStateException("Response reader failed", failure);
        }
    }

    @Override
    public void close() throws InterruptedException {
        closed = true;
        consumer.wakeup();
        thread.join(10_000);
    }
}
