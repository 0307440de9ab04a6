package io.kvstream.pipeline;

import io.kvstream.testing.RefModel;

import java.time.Duration;

/** Pipeline settings on the tiny reference model, sized for a 2-core machine. */
public final class TestModels {

    private TestModels() {}

    public static PipelineConfig.Builder refmodel(String kvSpec) {
        return refmodel("refmodel-q8_0.gguf", kvSpec);
    }

    /** As {@link #refmodel(String)}, on another of the reference model's files. */
    public static PipelineConfig.Builder refmodel(String file, String kvSpec) {
        return PipelineConfig.builder(RefModel.file(file).toString())
                .mmprojPath(RefModel.file("refmodel-mmproj-f16.gguf").toString())
                .threads(2)
                .device("cpu")
                .kvSpec(kvSpec)
                .maxSequences(8)
                .maxStepTokens(256)
                .prefillChunk(64)
                .maxWait(Duration.ZERO)
                .hotSetBytes(64L << 20)
                .maxInFlight(16);
    }
}
