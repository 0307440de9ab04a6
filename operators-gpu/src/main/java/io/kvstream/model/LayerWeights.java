package io.kvstream.model;

import io.kvstream.model.tensor.FloatTensor;

import javax.annotation.Nullable;

/**
 * Weights of one transformer block. Matrices are {@code [out, in]} (one row per output); norms and
 * biases are small and held as float arrays. Biases exist only for architectures that have them
 * (Qwen2's Q/K/V).
 */
public record LayerWeights(
        float[] attnNorm,
        FloatTensor wq,
        FloatTensor wk,
        FloatTensor wv,
        FloatTensor wo,
        @Nullable float[] bq,
        @Nullable float[] bk,
        @Nullable float[] bv,
        float[] ffnNorm,
        FloatTensor wGate,
        FloatTensor wUp,
        FloatTensor wDown) {}
