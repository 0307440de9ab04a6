package io.kvstream.cli;

import io.kvstream.generate.Engine;
import io.kvstream.runtime.Device;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Which model a command runs, and where: {@code --model} (GGUF file or Hugging Face checkpoint),
 * {@code --mmproj}, {@code --threads}, {@code --device}. Without {@code --model}, the reference
 * model the project ships in {@code models/} (with its projector) is used.
 */
public final class ModelOptions {

    /** Set by the launcher to the installation folder, where {@code models/} lives. */
    public static final String HOME_PROPERTY = "kvstream.home";

    static final String DEFAULT_MODEL = "models/refmodel-q8_0.gguf";
    static final String DEFAULT_MMPROJ = "models/refmodel-mmproj-f16.gguf";

    @Option(
            names = "--model",
            paramLabel = "FILE",
            description = "GGUF file, .safetensors file or checkpoint folder (default: ${DEFAULT-VALUE})",
            defaultValue = DEFAULT_MODEL)
    Path model;

    @Option(
            names = "--mmproj",
            paramLabel = "FILE",
            description = "vision projector GGUF for video frames (default: the shipped one with the default model)")
    @Nullable
    Path mmproj;

    @Option(
            names = "--tokenizer",
            paramLabel = "FILE",
            description = "tokenizer.json to use instead of the model's own")
    @Nullable
    Path tokenizer;

    @Option(
            names = "--threads",
            paramLabel = "N",
            description = "CPU threads (default: all cores)")
    int threads = Runtime.getRuntime().availableProcessors();

    @Option(
            names = "--device",
            paramLabel = "DEVICE",
            description = "cpu, cuda, or auto: cuda when a CUDA device is usable, else cpu (default: ${DEFAULT-VALUE})",
            converter = DeviceConverter.class,
            defaultValue = "auto")
    Device device = Device.AUTO;

    public Engine open() throws IOException {
        return Engine.open(resolve(model), mmprojPath(), tokenizerPath(), device, threads);
    }

    /** Accepts {@code cpu}, {@code cuda} and {@code auto} in any case. */
    static final class DeviceConverter implements picocli.CommandLine.ITypeConverter<Device> {
        @Override
        public Device convert(String value) {
            return Device.parse(value);
        }
    }

    /** The projector {@link #open} loads: {@code --mmproj}, or the shipped one with the default model. */
    @Nullable
    public Path mmprojPath() throws IOException {
        Path mm = mmproj != null ? resolve(mmproj) : null;
        if (mm == null && model.toString().equals(DEFAULT_MODEL)) {
            mm = resolve(Paths.get(DEFAULT_MMPROJ));
        }
        return mm;
    }

    @Nullable
    public Path tokenizerPath() throws IOException {
        return tokenizer != null ? resolve(tokenizer) : null;
    }

    public int threads() {
        return threads;
    }

    public Device device() {
        return device;
    }

    public Path modelPath() throws IOException {
        return resolve(model);
    }

    /** A relative default resolves against the installation folder when not found here. */
    static Path resolve(Path path) throws IOException {
        if (Files.exists(path) || path.isAbsolute()) {
            if (!Files.exists(path)) {
                throw new NoSuchFileException(path.toString(), null, "not found");
            }
            return path;
        }
        String home = System.getProperty(HOME_PROPERTY);
        if (home != null && Files.exists(Paths.get(home).resolve(path))) {
            return Paths.get(home).resolve(path);
        }
        throw new NoSuchFileException(path.toAbsolutePath().toString(), null, "not found");
    }
}
