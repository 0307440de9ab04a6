package io.kvstream.local;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.generate.Engine;
import io.kvstream.pipeline.InferenceJob;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.pipeline.TestModels;
import io.kvstream.testing.RefModel;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The load benchmark reduced to what CI can run: sessions through Kafka, the job and RocksDB, all
 * answered, and idle sessions leaving memory. Four times the sessions leave the live heap where
 * it was, give or take less than the hot set's budget: a session's decoded cache is dropped when
 * the hot set needs room, and everything else it holds is in RocksDB.
 */
class LoadBenchTest {

    @Test
    void manySessionsAreAnsweredAndIdleOnesLeaveTheHeap(@TempDir Path tmp) throws Exception {
        long hotSet = 8L << 20;
        PipelineConfig config = TestModels.refmodel("kivi2").hotSetBytes(hotSet).maxInFlight(32).build();
        ByteArrayOutputStream report = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(report, true, StandardCharsets.UTF_8);
        try (Engine engine = Engine.open(RefModel.file("refmodel-q8_0.gguf"), null, null, 1);
                LocalStack stack = LocalStack.start(
                        new LocalStack.Settings().checkpointDir(tmp.resolve("checkpoints"))
                                .checkpointInterval(Duration.ofSeconds(2)),
                        (env, kafka) -> InferenceJob.build(env, config.toBuilder().kafka(kafka).build()))) {
            PipelineBench bench = new PipelineBench(
                    stack.kafkaConfig(), engine, config.maxStepTokens(), config.prefillChunk(), out);
            bench.level(4, 1, 4);
            LoadBench.Result few = LoadBench.run(stack, bench, 40, 2, 4, hotSet, out);
            LoadBench.Result many = LoadBench.run(stack, bench, 160, 2, 4, hotSet, out);
            System.out.print(report.toString(StandardCharsets.UTF_8));
            assertThat(few.throughput().requests()).isEqualTo(80);
            assertThat(many.throughput().requests()).isEqualTo(320);
            assertThat(many.liveHeapAfter() - few.liveHeapAfter())
                    .as("live heap left by 160 more idle sessions")
                    .isLessThan(hotSet);
            // (A checkpoint triggered while the job still deploys is declined and counted failed.)
            assertThat(many.checkpoints().completed()).isGreaterThan(few.checkpoints().completed());
        }
    }
}
