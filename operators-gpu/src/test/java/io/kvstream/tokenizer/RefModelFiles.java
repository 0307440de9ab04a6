package io.kvstream.tokenizer;

import io.kvstream.testing.RefModel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/** The reference model's tokenizer, read once for the tokenizer tests. */
final class RefModelFiles {

    private static TokenizerData data;

    private RefModelFiles() {}

    static Path dir() {
        return RefModel.dir();
    }

    static synchronized TokenizerData tokenizerData() {
        if (data == null) {
            try {
                data = TokenizerJson.read(
                        RefModel.file("tokenizer.json"), RefModel.file("tokenizer_config.json"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return data;
    }
}
