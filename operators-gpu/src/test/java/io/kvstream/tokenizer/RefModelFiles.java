package io.kvstream.tokenizer;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** The shared reference model directory; tests that need it are skipped where it is absent. */
final class RefModelFiles {

    private static TokenizerData data;

    private RefModelFiles() {}

    static Path dir() {
        String property = System.getProperty("kvstream.refmodel", "../shared/refmodel");
        Path dir = Paths.get(property);
        Assumptions.assumeTrue(Files.isDirectory(dir), "reference model not found at " + dir);
        return dir;
    }

    static synchronized TokenizerData tokenizerData() {
        if (data == null) {
            Path dir = dir();
            try {
                data =
                        TokenizerJson.read(
                                dir.resolve("tokenizer.json"), dir.resolve("tokenizer_config.json"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return data;
    }
}
