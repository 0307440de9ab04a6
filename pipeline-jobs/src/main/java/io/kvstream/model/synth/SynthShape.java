package io.kvstream.model.synth;

import java.util.Locale;

/**
 * Shapes of real models (and a tiny one for tests) that {@link SynthModel} fills with random
 * weights, to measure speed and memory at real sizes without downloading weights.
 */
public enum SynthShape {
    /** A few-MB model for tests: 2 layers, vocab slightly above the reference tokenizer's. */
    TINY(64, 128, 2, 4, 2, 2112, 10000f, true, 2048),
    /** Llama 3.2 1B: tied embeddings. */
    LLAMA_3_2_1B(2048, 8192, 16, 32, 8, 128256, 500000f, true, 131072),
    /** Llama 3 8B: separate output matrix. */
    LLAMA_3_8B(4096, 14336, 32, 32, 8, 128256, 500000f, false, 8192);

    private final int dim;
    private final int hiddenDim;
    private final int layers;
    private final int heads;
    private final int kvHeads;
    private final int vocabSize;
    private final float ropeTheta;
    private final boolean tiedEmbeddings;
    private final int contextLength;

    SynthShape(
            int dim,
            int hiddenDim,
            int layers,
            int heads,
            int kvHeads,
            int vocabSize,
            float ropeTheta,
            boolean tiedEmbeddings,
            int contextLength) {
        this.dim = dim;
        this.hiddenDim = hiddenDim;
        this.layers = layers;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.vocabSize = vocabSize;
        this.ropeTheta = ropeTheta;
        this.tiedEmbeddings = tiedEmbeddings;
        this.contextLength = contextLength;
    }

    /** Parses {@code tiny}, {@code 1b} or {@code 8b} (or the constant's name). */
    public static SynthShape parse(String s) {
        switch (s.toLowerCase(Locale.ROOT)) {
            case "tiny":
                return TINY;
            case "1b":
                return LLAMA_3_2_1B;
            case "8b":
                return LLAMA_3_8B;
            default:
                try {
                    return valueOf(s.toUpperCase(Locale.ROOT));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(
                            "unknown shape '" + s + "'; expected tiny, 1b or 8b", e);
                }
        }
    }

    public int dim() {
        return dim;
    }

    public int hiddenDim() {
        return hiddenDim;
    }

    public int layers() {
        return layers;
    }

    public int heads() {
        return heads;
    }

    public int kvHeads() {
        return kvHeads;
    }

    public int headDim() {
        return dim / heads;
    }

    public int vocabSize() {
        return vocabSize;
    }

    public float ropeTheta() {
        return ropeTheta;
    }

    public boolean tiedEmbeddings() {
        return tiedEmbeddings;
    }

    public int contextLength() {
        return contextLength;
    }

    public float rmsEps() {
        return 1e-5f;
    }
}
