package io.kvstream.it.reliability;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.local.LocalStack;
import io.kvstream.pipeline.InferenceJob;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.schema.ErrorEvent;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.Sampling;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.UserTurn;
import io.kvstream.schema.VideoFrame;
import io.kvstream.schema.VideoQuery;
import io.kvstream.schema.codec.KvstreamCodecs;
import io.kvstream.schema.codec.SingleObjectCodec;
import io.kvstream.testing.RefModel;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;

/**
 * The pipeline of the reliability tests: the in-JVM broker and a MiniCluster with RocksDB,
 * checkpoints every 500 ms and exactly-once delivery, on the reference model sized for 2 cores;
 * events with fixed ids, and every final answer read back with {@code read_committed}.
 */
final class Pipeline {

    static final String FACT = "my favorite color is white.";
    static final String QUESTION = "what is my favorite color?";

    private Pipeline() {}

    static PipelineConfig.Builder config(String modelFile, String kv) {
        return PipelineConfig.builder(RefModel.file(modelFile).toString())
                .mmprojPath(RefModel.file("refmodel-mmproj-f16.gguf").toString())
                .threads(2)
                .kvSpec(kv)
                .maxSequences(8)
                .maxStepTokens(256)
                .prefillChunk(64)
                .maxWait(Duration.ZERO)
                .hotSetBytes(64L << 20)
                .maxInFlight(16)
                .maxAttempts(3);
    }

    static LocalStack start(Path tmp, PipelineConfig config, int restartAttempts) throws Exception {
        return LocalStack.start(settings(tmp, restartAttempts), job(config));
    }

    static LocalStack.Settings settings(Path tmp, int restartAttempts) {
        return new LocalStack.Settings()
                .checkpointDir(tmp.resolve("checkpoints"))
                .checkpointInterval(Duration.ofMillis(500))
                .restartAttempts(restartAttempts)
                .partitions(2)
                .kafka(KvstreamKafkaConfig.DELIVERY, "exactly-once");
    }

    static LocalStack.JobDefinition job(PipelineConfig config) {
        return (env, kafka) -> InferenceJob.build(env, config.toBuilder().kafka(kafka).build());
    }

    /** A user turn sampled at temperature 2.5 with its own seed: a rerun must draw the same tokens. */
    static SessionEvent turn(String session, String id, String text, int maxNew, long seed) {
        Sampling sampling = Sampling.newBuilder().setTemperature(2.5f).setSeed(seed).build();
        return event(session, id, UserTurn.newBuilder().setText(text).setMaxNewTokens(maxNew).setSampling(sampling).build());
    }

    /** A greedy user turn. */
    static SessionEvent turn(String session, String id, String text, int maxNew) {
        return event(session, id, UserTurn.newBuilder().setText(text).setMaxNewTokens(maxNew)
                .setSampling(Sampling.newBuilder().build()).build());
    }

    /** A 16x16 frame of seeded noise, the size the reference projector takes. */
    static SessionEvent frame(String session, String id, int index, long seed) {
        byte[] rgb = new byte[16 * 16 * 3];
        new Random(seed).nextBytes(rgb);
        return event(session, id, VideoFrame.newBuilder().setIndex(index).setTimestampMs(index * 1000L)
                .setWidth(16).setHeight(16).setRgb(ByteBuffer.wrap(rgb)).build());
    }

    static SessionEvent query(String session, String id, String text, int maxNew) {
        return event(session, id, VideoQuery.newBuilder().setText(text).setMaxNewTokens(maxNew)
                .setSampling(Sampling.newBuilder().build()).build());
    }

    private static SessionEvent event(String session, String id, Object payload) {
        return SessionEvent.newBuilder().setEventId(id).setSessionId(session)
                .setTimestampMs(System.currentTimeMillis()).setPayload(payload).build();
    }

    static void send(KvstreamKafkaConfig kafka, SessionEvent... events) throws Exception {
        try (SessionEventProducer producer = SessionEventProducer.create(kafka)) {
            for (SessionEvent e : events) {
                producer.send(e).get();
            }
        }
    }

    /**
     * Every final answer and error committed to the responses topic, by event id, in order of
     * arrival: read until each of {@code ids} has one, then for {@code settle} more, so that a
     * second answer committed by a later checkpoint shows too.
     */
    static Map<String, List<ResponseEvent>> answers(KvstreamKafkaConfig kafka, Collection<String> ids,
                                                    Duration timeout, Duration settle) throws Exception {
        Properties props = kafka.clientProperties(KvstreamKafkaConfig.Client.CONSUMER);
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        props.setProperty(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.setProperty(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        SingleObjectCodec<ResponseEvent> codec = KvstreamCodecs.responseEvents();
        Map<String, List<ResponseEvent>> out = new LinkedHashMap<>();
        try (KafkaConsumer<byte[], byte[]> consumer =
                     new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo p : consumer.partitionsFor(kafka.responsesTopic(), Duration.ofSeconds(30))) {
                partitions.add(new TopicPartition(p.topic(), p.partition()));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            long deadline = System.nanoTime() + timeout.toNanos();
            long settled = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(deadline, settled)) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    ResponseEvent e = codec.decode(r.value());
                    if (e.getPayload() instanceof FinalResponse || e.getPayload() instanceof ErrorEvent) {
                        out.computeIfAbsent(e.getEventId(), k -> new ArrayList<>()).add(e);
                    }
                }
                if (settled == Long.MAX_VALUE && out.keySet().containsAll(ids)) {
                    settled = System.nanoTime() + settle.toNanos();
                }
            }
        }
        if (!out.keySet().containsAll(ids)) {
            Set<String> missing = new java.util.TreeSet<>(ids);
            missing.removeAll(out.keySet());
            throw new AssertionError("No answer within " + timeout + " to " + missing + "; got " + out.keySet());
        }
        return out;
    }

    /** The text of the one final answer to the event, failing if there is none or more than one. */
    static String text(Map<String, List<ResponseEvent>> answers, String id) {
        return finalResponse(answers, id).getText();
    }

    static FinalResponse finalResponse(Map<String, List<ResponseEvent>> answers, String id) {
        List<ResponseEvent> got = answers.get(id);
        if (got == null || got.size() != 1 || !(got.get(0).getPayload() instanceof FinalResponse f)) {
            throw new AssertionError("Event " + id + ": expected exactly one final response, got " + got);
        }
        return f;
    }

    static ErrorEvent error(Map<String, List<ResponseEvent>> answers, String id) {
        List<ResponseEvent> got = answers.get(id);
        if (got == null || got.size() != 1 || !(got.get(0).getPayload() instanceof ErrorEvent e)) {
            throw new AssertionError("Event " + id + ": expected exactly one error, got " + got);
        }
        return e;
    }
}
