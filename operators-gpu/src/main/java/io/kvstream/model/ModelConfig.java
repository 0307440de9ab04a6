package io.kvstream.model;

/**
 * Hyper-parameters of a decoder-only transformer of the Llama family.
 *
 * @param architecture {@code llama} or {@code qwen2}, as GGUF names them
 * @param dim model (embedding) width
 * @param hiddenDim SwiGLU inner width
 * @param layers transformer blocks
 * @param heads query heads
 * @param kvHeads key/value heads (grouped-query attention when fewer than {@code heads})
 * @param headDim width of one head
 * @param vocabSize rows of the embedding and of the output matrix
 * @param contextLength positions the model was trained for
 * @param rmsEps RMSNorm epsilon
 * @param ropeTheta RoPE frequency base
 * @param ropeStyle which dimensions RoPE pairs, given how the file stores Q and K
 */
public record ModelConfig(
        String architecture,
        int dim,
        int hiddenDim,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int vocabSize,
        int contextLength,
        float rmsEps,
        float ropeTheta,
        RopeStyle ropeStyle) {

    public ModelConfig {
        if (dim <= 0 || hiddenDim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0
                || headDim <= 0 || vocabSize <= 0 || contextLength <= 0) {
            throw new IllegalArgumentException("model dimensions must be positive: " + this);
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException(
                    String.format("%d query heads do not split into %d kv heads", heads, kvHeads));
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("RoPE needs an even head width, got " + headDim);
        }
    }

    /** Width of the keys (and values) of one token in one layer. */
    public int kvDim() {
        return kvHeads * headDim;
    }

    /** Width of the queries of one token. */
    public int qDim() {
        return heads * headDim;
    }
}
