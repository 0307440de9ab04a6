package io.kvstream.it;

import io.kvstream.kv.CacheSpec;
import io.kvstream.client.EvalEvents;
import io.kvstream.client.Replay;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.ResponseConsumer;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.eval.EvalResult;
import io.kvstream.eval.EvalRunner;
import io.kvstream.eval.EvalSample;
import io.kvstream.generate.Engine;
import io.kvstream.local.LocalStack;
import io.kvstream.pipeline.InferenceJob;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.connect.client.DeadLetterReader;
import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.testing.RefModel;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whole stack in one JVM on the reference model: eval samples replayed through Kafka and the
 * Flink job must get exactly the answers offline {@code eval} gives with the same cache, and a
 * record nobody can read goes to the dead-letter topic while the job keeps answering.
 */
class PipelineReplayTest {

    /** The 7 shortest samples of each task: every kind of session, in little time. */
    private static List<EvalSample> samples() throws Exception {
        List<EvalSample> all = EvalSample.read(RefModel.file("eval-shared.jsonl"));
        List<EvalSample> picked = new ArrayList<>();
        for (String task : List.of("chat", "passkey", "video")) {
            all.stream().filter(s -> s.task().equals(task))
                    .sorted(Comparator.comparingInt(PipelineReplayTest::size))
                    .limit(7).forEach(picked::add);
        }
        return picked;
    }

    private static int size(EvalSample s) {
        int n = 0;
        for (EvalSample.Segment seg : s.segments()) {
            n += seg.isFrame() ? 21 : seg.text().length() / 3 + 1;
        }
        return n;
    }

    @ParameterizedTest
    @ValueSource(strings = {"full", "kivi2"})
    void replayedAnswersEqualOfflineEvalAndBadRecordsAreDeadLettered(String kv, @TempDir Path tmp) throws Exception {
        List<EvalSample> samples = samples();
        CacheSpec spec = CacheSpec.parse(kv);
        Path model = RefModel.file("refmodel-q8_0.gguf");
        Path mmproj = RefModel.file("refmodel-mmproj-f16.gguf");
        EvalResult offline;
        try (Engine engine = Engine.open(model, mmproj, null, 2)) {
            offline = new EvalRunner(engine, () -> engine.newCache(spec.kv()), spec.dropThreshold(), 8, null)
                    .run(samples);
        }
        assertThat(offline.failed()).isZero();

        PipelineConfig config = PipelineConfig.builder(model.toString())
                .mmprojPath(mmproj.toString())
                .threads(2)
                .kvSpec(kv)
                .maxSequences(8)
                .maxStepTokens(256)
                .prefillChunk(64)
                .maxWait(Duration.ZERO)
                .hotSetBytes(64L << 20)
                .maxInFlight(16)
                .build();
        try (LocalStack stack = LocalStack.start(
                new LocalStack.Settings().checkpointDir(tmp.resolve("checkpoints")).restartAttempts(0)
                        .checkpointInterval(Duration.ofSeconds(2)),
                (env, kafka) -> InferenceJob.build(env, config.toBuilder().kafka(kafka).build()))) {
            KvstreamKafkaConfig kafka = stack.kafkaConfig();
            Replay.Outcome replayed = new Replay(kafka, new Replay.Options(8, EvalRunner.MAX_NEW_TOKENS,
                    Duration.ofSeconds(90), true, null)).run(samples);

            assertThat(replayed.eval().failed()).isZero();
            List<String> differ = new ArrayList<>();
            for (int i = 0; i < samples.size(); i++) {
                String got = replayed.eval().answers().get(i).output().strip();
                String want = offline.answers().get(i).output().strip();
                if (!got.equals(want)) {
                    differ.add(String.format("sample %d (%s): pipeline '%s', offline '%s', expected '%s'",
                            samples.get(i).index(), samples.get(i).task(), got, want, samples.get(i).answer()));
                }
            }
            // The pipeline's token stream is offline eval's, and a compressing cache quantizes each
            // event's tokens once the event is all in, however the pipeline chunks its prefill
            // (64-token chunks here, beside other sessions) and however offline eval does (one
            // step per event): greedy answers must match, lossy codec or not.
            assertThat(differ).as("answers differing from offline eval").isEmpty();
            assertThat(replayed.eval().accuracy()).isEqualTo(offline.accuracy());
            assertThat(replayed.ttftMs().count()).isEqualTo(samples.size());
            assertThat(replayed.cachedTokens()).isPositive();

            // A record that is not a session event: dead-lettered byte for byte, the job answers on.
            byte[] garbage = ("garbage for " + kv).getBytes(StandardCharsets.UTF_8);
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                    kafka.clientProperties(KvstreamKafkaConfig.Client.PRODUCER),
                    new ByteArraySerializer(), new ByteArraySerializer())) {
                p.send(new ProducerRecord<>(kafka.eventsTopic(), "bad".getBytes(StandardCharsets.UTF_8), garbage)).get();
            }
            DeadLetter dead = readDeadLetter(kafka);
            byte[] kept = new byte[dead.getValue().remaining()];
            dead.getValue().duplicate().get(kept);
            assertThat(kept).isEqualTo(garbage);
            assertThat(dead.getTopic()).isEqualTo(kafka.eventsTopic());
            try (SessionEventProducer producer = SessionEventProducer.create(kafka);
                    ResponseConsumer responses = ResponseConsumer.forSession(kafka, "after-garbage")) {
                producer.send(SessionEventProducer.newEvent("after-garbage",
                        EvalEvents.userTurn("my favorite color is white.", 8)));
                SessionEvent ask = SessionEventProducer.newEvent("after-garbage",
                        EvalEvents.userTurn("what is my favorite color?", 8));
                producer.send(ask);
                producer.flush();
                ResponseEvent answer = responses.awaitFinal(ask.getEventId(), Duration.ofSeconds(60), r -> {});
                assertThat(((FinalResponse) answer.getPayload()).getText().strip()).isEqualTo("white");
            }
        }
    }

    private static DeadLetter readDeadLetter(KvstreamKafkaConfig config) throws Exception {
        List<DeadLetter> dead = DeadLetterReader.read(config, 1, Duration.ofSeconds(60));
        if (dead.isEmpty()) {
            throw new AssertionError("no dead letter within 60 s");
        }
        return dead.get(0);
    }
}
