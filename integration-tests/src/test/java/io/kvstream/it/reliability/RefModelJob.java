package io.kvstream.it.reliability;

import io.kvstream.local.LocalStack;
import io.kvstream.pipeline.InferenceJob;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.testing.RefModel;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The inference job on the reference model, sized for the 2-core build machine, and the local
 * stack it runs on: RocksDB, checkpoints every second (exactly-once output is committed with
 * them, so they set how soon answers show), no restarts unless a test asks.
 */
final class RefModelJob {

    private RefModelJob() {}

    static PipelineConfig config() throws Exception {
        return PipelineConfig.builder(RefModel.file("refmodel-q8_0.gguf").toString())
                .threads(1)
                .maxSequences(16)
                .maxStepTokens(512)
                .prefillChunk(64)
                .maxWait(Duration.ZERO)
                .hotSetBytes(64L << 20)
                .maxInFlight(32)
                .build();
    }

    static LocalStack.Settings settings(Path tmp) {
        return new LocalStack.Settings()
                .checkpointDir(tmp.resolve("checkpoints"))
                .checkpointInterval(Duration.ofSeconds(1))
                .restartAttempts(0);
    }

    static LocalStack.JobDefinition job(PipelineConfig config) {
        return (env, kafka) -> InferenceJob.build(env, config.toBuilder().kafka(kafka).build());
    }
}
