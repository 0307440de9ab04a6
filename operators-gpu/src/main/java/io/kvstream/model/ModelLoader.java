package io.kvstream.model;

import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.gguf.GgufModelReader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Loads a text model from a GGUF file ({@code llama} or {@code qwen2} architecture). Weights are
 * memory-mapped, not copied; only norms and biases are read into arrays.
 */
public final class ModelLoader {

    private ModelLoader() {}

    public static Model load(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no model file or folder");
        }
        String name = path.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (Files.isRegularFile(path) && name.endsWith(".gguf")) {
            try (GgufFile gguf = GgufFile.open(path)) {
                return GgufModelReader.read(gguf);
            }
        }
        throw new ModelFormatException(
                String.format("%s: expected a .gguf file", path));
    }
}
