package io.kvstream.model;

/**
 * Which pairs of a head's dimensions RoPE rotates together.
 *
 * <p>Hugging Face Llama and Qwen2 rotate dimension {@code i} with {@code i + headDim/2} (rotate
 * half, GGML's NEOX mode). llama.cpp's converter permutes the Q and K rows of {@code llama} models
 * so that GGML's normal mode, which rotates {@code 2i} with {@code 2i+1}, gives the same result.
 */
public enum RopeStyle {
    /** Pairs {@code (2i, 2i+1)}: GGUF {@code llama} files with permuted Q/K rows. */
    INTERLEAVED,
    /** Pairs {@code (i, i + headDim/2)}: Hugging Face checkpoints and GGUF {@code qwen2}. */
    HALF
}
