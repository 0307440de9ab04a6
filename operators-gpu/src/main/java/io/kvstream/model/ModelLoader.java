package io.kvstream.model;

import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.gguf.GgufModelReader;
import io.kvstream.model.safetensors.HfConfig;
import io.kvstream.model.safetensors.HfModelReader;
import io.kvstream.model.safetensors.SafetensorsCheckpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Loads a text model of the Llama family ({@code llama} or {@code qwen2}) from
 *
 * <ul>
 *   <li>a GGUF file, with llama.cpp's names; the tokenizer comes from {@code tokenizer.ggml.*};
 *   <li>a Hugging Face checkpoint: a {@code .safetensors} file with {@code config.json} beside
 *       it, a {@code model.safetensors.index.json}, or a folder holding either. {@link
 *       Model#tokenizer()} is then null: the vocabulary is in {@code tokenizer.json}, which the
 *       tokenizer package reads.
 * </ul>
 *
 * <p>Weights are memory-mapped, not copied; only norms and biases are read into arrays.
 */
public final class ModelLoader {

    private ModelLoader() {}

    public static Model load(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no model file or folder");
        }
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        if (Files.isRegularFile(path) && name.endsWith(".gguf")) {
            try (GgufFile gguf = GgufFile.open(path)) {
                return GgufModelReader.read(gguf);
            }
        }
        if (Files.isDirectory(path)
                || name.endsWith(".safetensors")
                || name.endsWith(".safetensors.index.json")) {
            Path folder = Files.isDirectory(path) ? path : path.toAbsolutePath().getParent();
            Path configJson = folder.resolve(HfConfig.FILE_NAME);
            if (!Files.isRegularFile(configJson)) {
                throw new ModelFormatException(
                        String.format(
                                "%s: a Hugging Face checkpoint needs %s beside it, and %s does"
                                        + " not exist",
                                path, HfConfig.FILE_NAME, configJson));
            }
            HfConfig config = HfConfig.read(configJson);
            try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(path)) {
                return HfModelReader.read(path, ckpt, config);
            }
        }
        throw new ModelFormatException(
                String.format(
                        "%s: expected a .gguf file, a .safetensors file or a Hugging Face"
                                + " checkpoint folder",
                        path));
    }
}
