package io.kvstream.connect;

import io.kvstream.connect.KvstreamTopics.Outcome;
import io.kvstream.connect.client.ResponseConsumer;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.connect.serde.SingleObjectTypeInfo;
import io.kvstream.connect.client.DeadLetterReader;
import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.FinishReason;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.Timings;
import io.kvstream.schema.TokenDelta;
import io.kvstream.schema.Usage;
import io.kvstream.schema.UserTurn;
import io.kvstream.schema.VideoFrame;
import io.kvstream.schema.codec.KvstreamCodecs;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The connectors against a real Kafka broker (KRaft, in this JVM) and a Flink mini cluster: topics
 * are created, events produced with {@link SessionEventProducer} go through the {@link
 * KvstreamKafka} source and sinks of a small job that answers each one, and come back through
 * {@link ResponseConsumer}; undecodable records end up on the dead-letter topic.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class KafkaRoundTripTest {

    private static final Logger LOG = LoggerFactory.getLogger(KafkaRoundTripTest.class);

    @RegisterExtension
    static final MiniClusterExtension FLINK =
            new MiniClusterExtension(
                    new MiniClusterResourceConfiguration.Builder()
                            .setNumberTaskManagers(1)
                            .setNumberSlotsPerTaskManager(2)
                            .setConfiguration(flinkConfig())
                            .build());

    private static KafkaClusterTestKit kafka;

    private static Configuration flinkConfig() {
        Configuration conf = new Configuration();
        // A failing job must fail the test, not restart forever.
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        // Everything the job moves has a real serializer: no Kryo fallback.
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        return conf;
    }

    @BeforeAll
    static void startKafka() throws Exception {
        long start = System.nanoTime();
        kafka =
                new KafkaClusterTestKit.Builder(
                                new TestKitNodes.Builder()
                                        .setCombined(true)
                                        .setNumBrokerNodes(1)
                                        .setNumControllerNodes(1)
                                        .build())
                        .setConfigProp("offsets.topic.replication.factor", "1")
                        .setConfigProp("offsets.topic.num.partitions", "1")
                        .setConfigProp("transaction.state.log.replication.factor", "1")
                        .setConfigProp("transaction.state.log.min.isr", "1")
                        .setConfigProp("transaction.state.log.num.partitions", "1")
                        .setConfigProp("group.initial.rebalance.delay.ms", "0")
                        .build();
        kafka.format();
        kafka.startup();
        kafka.waitForReadyBrokers();
        LOG.info("Kafka broker ready in {} ms", (System.nanoTime() - start) / 1_000_000);
    }

    @AfterAll
    static void stopKafka() throws Exception {
        if (kafka != null) {
            kafka.close();
        }
    }

    private static KvstreamKafkaConfig config(String name, KvstreamKafkaConfig.Delivery delivery) {
        return KvstreamKafkaConfig.builder()
                .bootstrapServers(kafka.bootstrapServers())
                .eventsTopic(name + ".events")
                .responsesTopic(name + ".responses")
                .deadLettersTopic(name + ".dead-letters")
                .eventsPartitions(4)
                .responsesPartitions(4)
                .groupId(name + "-pipeline")
                .startingOffsets(KvstreamKafkaConfig.StartingOffsets.EARLIEST)
                .delivery(delivery)
                .transactionalIdPrefix(name)
                .build();
    }

    @Test
    void topicsAreCreatedOnceWithTheirRetention() throws Exception {
        KvstreamKafkaConfig config =
                KvstreamKafkaConfig.builder()
                        .bootstrapServers(kafka.bootstrapServers())
                        .eventsTopic("admin.events")
                        .responsesTopic("admin.responses")
                        .deadLettersTopic("admin.dead-letters")
                        .build();

        assertThat(KvstreamTopics.ensure(config, Duration.ofSeconds(30)))
                .containsExactlyEntriesOf(
                        ordered(
                                "admin.events", Outcome.CREATED,
                                "admin.responses", Outcome.CREATED,
                                "admin.dead-letters", Outcome.CREATED));
        assertThat(KvstreamTopics.ensure(config, Duration.ofSeconds(30)))
                .containsOnly(
                        Map.entry("admin.events", Outcome.EXISTED),
                        Map.entry("admin.responses", Outcome.EXISTED),
                        Map.entry("admin.dead-letters", Outcome.EXISTED));

        try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
            Map<String, TopicDescription> topics =
                    admin.describeTopics(
                                    List.of("admin.events", "admin.responses", "admin.dead-letters"))
                            .allTopicNames()
                            .get();
            assertThat(topics.get("admin.events").partitions()).hasSize(8);
            assertThat(topics.get("admin.responses").partitions()).hasSize(8);
            assertThat(topics.get("admin.dead-letters").partitions()).hasSize(1);

            Map<ConfigResource, Config> configs =
                    admin.describeConfigs(
                                    topics.keySet().stream()
                                            .map(t -> new ConfigResource(ConfigResource.Type.TOPIC, t))
                                            .collect(Collectors.toList()))
                            .all()
                            .get();
            assertThat(retentionMs(configs, "admin.events")).isEqualTo(Duration.ofDays(7).toMillis());
            assertThat(retentionMs(configs, "admin.responses")).isEqualTo(Duration.ofDays(1).toMillis());
            assertThat(retentionMs(configs, "admin.dead-letters"))
                    .isEqualTo(Duration.ofDays(30).toMillis());
            assertThat(
                            configs.get(new ConfigResource(ConfigResource.Type.TOPIC, "admin.events"))
                                    .get("max.message.bytes")
                                    .value())
                    .isEqualTo(String.valueOf(16 * 1024 * 1024));
        }
    }

    @Test
    void eventsFlowThroughFlinkInSessionOrderAndGarbageBecomesDeadLetters() throws Exception {
        runPipeline("alo", KvstreamKafkaConfig.Delivery.AT_LEAST_ONCE);
    }

    @Test
    void exactlyOnceSinksCommitWithTheCappedTransactionTimeout() throws Exception {
        runPipeline("eos", KvstreamKafkaConfig.Delivery.EXACTLY_ONCE);
    }

    private void runPipeline(String name, KvstreamKafkaConfig.Delivery delivery) throws Exception {
        KvstreamKafkaConfig config = config(name, delivery);
        KvstreamTopics.ensure(config, Duration.ofSeconds(30));
        List<String> sessions = List.of("alice", "bob", "carol", "dave", "erin", "frank");

        long start = System.nanoTime();
        Map<String, List<String>> sent = new LinkedHashMap<>();
        try (SessionEventProducer producer = SessionEventProducer.create(config)) {
            for (int i = 0; i < 20; i++) {
                for (String session : sessions) {
                    SessionEvent e =
                            producer.send(session, UserTurn.newBuilder().setText(session + " " + i).build());
                    sent.computeIfAbsent(session, s -> new ArrayList<>()).add(e.getEventId());
                }
            }
            // A 1280x720 RGB frame (2.7 MB): more than Kafka's default 1 MB message limit.
            SessionEvent frame =
                    producer.send(
                            "alice", new VideoFrame(0, 0L, 1280, 720, ByteBuffer.allocate(1280 * 720 * 3)));
            sent.get("alice").add(frame.getEventId());
            producer.send(frame).get(30, TimeUnit.SECONDS).offset(); // the same event again: order holds
            sent.get("alice").add(frame.getEventId());
            producer.flush();
        }
        byte[] unknownVersion =
                KvstreamCodecs.sessionEvents()
                        .encode(SessionEventProducer.newEvent("bob", UserTurn.newBuilder().setText("?").build()));
        unknownVersion[9] ^= 0x10;
        try (KafkaProducer<byte[], byte[]> raw =
                new KafkaProducer<>(
                        config.clientProperties(KvstreamKafkaConfig.Client.PRODUCER),
                        new ByteArraySerializer(),
                        new ByteArraySerializer())) {
            raw.send(new ProducerRecord<>(config.eventsTopic(), bytes("bob"), bytes("{\"text\": \"json?\"}")))
                    .get();
            raw.send(new ProducerRecord<>(config.eventsTopic(), null, unknownVersion)).get();
        }
        long produced = System.nanoTime();

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(2);
        if (delivery == KvstreamKafkaConfig.Delivery.EXACTLY_ONCE) {
            env.enableCheckpointing(500);
        }
        SingleOutputStreamOperator<SessionEvent> events =
                DeadLetterRouting.split(
                        env.fromSource(
                                KvstreamKafka.eventSourceBuilder(config)
                                        .setBounded(OffsetsInitializer.latest())
                                        .build(),
                                WatermarkStrategy.noWatermarks(),
                                "events"),
                        SessionEvent.class);
        events.flatMap(new Echo(), SingleObjectTypeInfo.forRecord(ResponseEvent.class))
                .sinkTo(KvstreamKafka.responseSink(config));
        events.getSideOutput(DeadLetterRouting.DEAD_LETTERS)
                .sinkTo(KvstreamKafka.deadLetterSink(config));
        env.execute(name);
        long ran = System.nanoTime();

        // Something unreadable among bob's responses: his consumer passes over it.
        try (KafkaProducer<byte[], byte[]> raw =
                new KafkaProducer<>(
                        config.clientProperties(KvstreamKafkaConfig.Client.PRODUCER),
                        new ByteArraySerializer(),
                        new ByteArraySerializer())) {
            raw.send(new ProducerRecord<>(config.responsesTopic(), bytes("bob"), bytes("garbage"))).get();
        }

        TopicPartition bobsPartition =
                new TopicPartition(
                        config.responsesTopic(),
                        ResponseConsumer.partitionFor("bob", config.responsesPartitions()));
        for (String session : sessions) {
            try (ResponseConsumer consumer = ResponseConsumer.forSession(config, session, true)) {
                List<ResponseEvent> responses = new ArrayList<>();
                while (responses.size() < 2 * sent.get(session).size()) {
                    List<ResponseEvent> batch = consumer.poll(Duration.ofSeconds(5));
                    assertThat(batch).as("responses of %s so far: %s", session, responses.size()).isNotEmpty();
                    responses.addAll(batch);
                }
                List<String> finals =
                        responses.stream()
                                .filter(r -> r.getPayload() instanceof FinalResponse)
                                .map(ResponseEvent::getEventId)
                                .collect(Collectors.toList());
                assertThat(finals).as("answers of %s in order", session).isEqualTo(sent.get(session));
                assertThat(responses).allMatch(r -> r.getSessionId().equals(session));
                if (session.equals("bob")) {
                    // Drain to the garbage record written after the job's output.
                    assertThat(consumer.poll(Duration.ofSeconds(1))).isEmpty();
                }
                if (session.equals("bob")) {
                    assertThat(consumer.skippedRecords()).isEqualTo(1);
                } else if (!consumer.partition().equals(bobsPartition)) {
                    assertThat(consumer.skippedRecords()).isZero();
                }
            }
        }
        try (ResponseConsumer consumer = ResponseConsumer.forSession(config, "carol", true)) {
            String third = sent.get("carol").get(2);
            List<ResponseEvent> seen = new ArrayList<>();
            ResponseEvent last = consumer.awaitFinal(third, Duration.ofSeconds(10), seen::add);
            assertThat(((FinalResponse) last.getPayload()).getText()).isEqualTo("carol 2");
            assertThat(seen).hasSize(2);
            assertThat(seen.get(0).getPayload()).isInstanceOf(TokenDelta.class);
            // The answers to the first two events came before the awaited one: kept, not lost.
            List<ResponseEvent> kept = consumer.poll(Duration.ZERO);
            assertThat(kept.subList(0, 4))
                    .extracting(ResponseEvent::getEventId)
                    .containsExactly(
                            sent.get("carol").get(0),
                            sent.get("carol").get(0),
                            sent.get("carol").get(1),
                            sent.get("carol").get(1));
        }

        List<DeadLetter> deadLetters = readDeadLetters(config, 2);
        assertThat(deadLetters).extracting(DeadLetter::getTopic).containsOnly(config.eventsTopic());
        DeadLetter json =
                deadLetters.stream().filter(d -> d.getKey() != null).findFirst().orElseThrow();
        assertThat(json.getKey()).isEqualTo(ByteBuffer.wrap(bytes("bob")));
        assertThat(json.getValue()).isEqualTo(ByteBuffer.wrap(bytes("{\"text\": \"json?\"}")));
        assertThat(json.getError()).contains("Not an Avro single-object encoded message");
        DeadLetter unknown =
                deadLetters.stream().filter(d -> d.getKey() == null).findFirst().orElseThrow();
        assertThat(unknown.getValue()).isEqualTo(ByteBuffer.wrap(unknownVersion));
        assertThat(unknown.getError()).contains("Unknown schema fingerprint");

        LOG.info(
                "{}: produced {} events in {} ms, Flink job ran {} ms, read back in {} ms",
                name,
                sent.values().stream().mapToInt(List::size).sum() + 2,
                (produced - start) / 1_000_000,
                (ran - produced) / 1_000_000,
                (System.nanoTime() - ran) / 1_000_000);
    }

    private static List<DeadLetter> readDeadLetters(KvstreamKafkaConfig config, int expected) throws Exception {
        List<DeadLetter> out = DeadLetterReader.read(config, expected, Duration.ofSeconds(10));
        assertThat(out).hasSize(expected);
        return out;
    }

    /** Answers each event with one token delta and a final response echoing its text. */
    private static final class Echo implements FlatMapFunction<SessionEvent, ResponseEvent> {
        private static final long serialVersionUID = 1L;

        @Override
        public void flatMap(SessionEvent e, Collector<ResponseEvent> out) {
            String text =
                    e.getPayload() instanceof UserTurn
                            ? ((UserTurn) e.getPayload()).getText()
                            : e.getPayload().getClass().getSimpleName();
            out.collect(
                    new ResponseEvent(
                            e.getEventId(), e.getSessionId(), new TokenDelta(0, text, List.of(1, 2))));
            out.collect(
                    new ResponseEvent(
                            e.getEventId(),
                            e.getSessionId(),
                            new FinalResponse(
                                    text, FinishReason.STOP, new Usage(3, 0, 2), new Timings(0L, 1L, 2L))));
        }
    }

    private static long retentionMs(Map<ConfigResource, Config> configs, String topic) {
        return Long.parseLong(
                configs.get(new ConfigResource(ConfigResource.Type.TOPIC, topic))
                        .get("retention.ms")
                        .value());
    }

    private static Map<String, Outcome> ordered(
            String k1, Outcome v1, String k2, Outcome v2, String k3, Outcome v3) {
        Map<String, Outcome> m = new LinkedHashMap<>();
        m.put(k1, v1);
        m.put(k2, v2);
        m.put(k3, v3);
        return m;
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
