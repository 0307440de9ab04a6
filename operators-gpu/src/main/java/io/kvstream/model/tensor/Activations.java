package io.kvstream.model.tensor;

import java.util.Locale;

/**
 * How the CPU's heap copies of Q4_0 matrices ({@link Tensors#interleaved}) take a token's
 * activations.
 */
public enum Activations {
    /**
     * As floats: every result is the sequential fp32 sum over the dequantized row, as for every
     * other format.
     */
    F32,
    /**
     * Quantized to Q8_0 per token, then multiplied in integers, as llama.cpp does for Q4_0: 1.4-1.6x
     * as fast at one token (docs/benchmarks.md, eighth stop), and as close to llama.cpp's logits as its own arithmetic
     * allows, but no longer the fp32 sum (see {@link FloatTensor#quantizesActivations}).
     */
    Q8_0;

    /** {@code f32} or {@code q8_0}, either case. */
    public static Activations parse(String name) {
        for (Activations a : values()) {
            if (a.name().equalsIgnoreCase(name)) {
                return a;
            }
        }
        throw new IllegalArgumentException(
                String.format(Locale.ROOT, "activations must be f32 or q8_0, not '%s'", name));
    }
}
