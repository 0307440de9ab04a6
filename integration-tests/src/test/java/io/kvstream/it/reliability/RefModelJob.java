package io.kvstream.it.reliability;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.local.LocalStack;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.testing.RefModel;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The inference job's settings on the reference model (built with {@link Pipeline#job}), sized for the 2-core build machine, and the local
 * stack it runs on: RocksDB, exactly-once output as the job writes it by default (the local
 * stack's own default is at-least-once, under which a restart may repeat answers, as
 * docs/reliability.md says), checkpoints every second (they commit the output, so they set how
 * soon answers show), no restarts unless a test asks.
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
                .restartAttempts(0)
                .kafka(KvstreamKafkaConfig.DELIVERY, "exactly-once");
    }
}
