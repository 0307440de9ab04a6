package io.kvstream.kv;

import static org.apache.flink.util.Preconditions.checkArgument;

/**
 * The model's rotary embedding, as far as a cache needs it to move keys to new positions.
 *
 * @param interleaved GGUF/GGML pairs {@code (2i, 2i+1)}; otherwise Hugging Face rotate-half
 *     pairs {@code (i, i + headDim/2)}
 */
public record RopeSpec(int headDim, float theta, boolean interleaved) {

    public RopeSpec {
        checkArgument(headDim > 0 && headDim % 2 == 0, "RoPE head dim must be even, not %s", headDim);
        checkArgument(theta > 0f, "RoPE theta must be positive, not %s", theta);
    }

    /** Inverse frequencies exactly as the model computes them (fp32, like Hugging Face). */
    public float[] inverseFrequencies() {
        int half = headDim / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / headDim;
            inv[i] = (float) (1.0 / (float) Math.pow(theta, exponent));
        }
        return inv;
    }
}
