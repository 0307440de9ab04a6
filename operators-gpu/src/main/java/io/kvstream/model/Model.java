package io.kvstream.model;

import io.kvstream.tokenizer.TokenizerData;

import javax.annotation.Nullable;

import java.nio.file.Path;

/**
 * A loaded text model: what the forward pass needs, plus the tokenizer its file carries.
 *
 * @param source the file or folder it was loaded from
 * @param tokenizer the vocabulary the file carries; null when it must come from elsewhere
 */
public record Model(
        Path source, ModelConfig config, Weights weights, @Nullable TokenizerData tokenizer) {}
