package io.kvstream.model;

import io.kvstream.model.tensor.FloatTensor;

import java.util.List;

/**
 * All weights of a text model. {@code output} is the same tensor as {@code tokenEmbedding} when
 * the model ties them.
 */
public record Weights(
        FloatTensor tokenEmbedding,
        List<LayerWeights> layers,
        float[] outputNorm,
        FloatTensor output) {}
