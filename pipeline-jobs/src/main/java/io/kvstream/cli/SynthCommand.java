package io.kvstream.cli;

import io.kvstream.model.synth.SynthModel;
import io.kvstream.model.synth.SynthShape;
import io.kvstream.model.tensor.GgmlType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code kvstream synth}: a random-weight model of a real model's shape, for benchmarks. */
@Command(
        name = "synth",
        mixinStandardHelpOptions = true,
        description = "Write a random-weight GGUF of a real model's shape (nothing to download), optionally also as a Hugging Face folder.")
public final class SynthCommand implements Callable<Integer> {

    @Option(names = "--arch", paramLabel = "ARCH", description = "architecture (default: ${DEFAULT-VALUE}; only llama)")
    String arch = "llama";

    @Option(names = "--shape", required = true, paramLabel = "SHAPE", description = "1b (Llama 3.2 1B), 8b (Llama 3 8B) or tiny")
    String shape;

    @Option(names = "--quant", paramLabel = "TYPE", description = "f16, q8_0 or q4_0 (default: ${DEFAULT-VALUE})")
    String quant = "q8_0";

    @Option(names = "--seed", paramLabel = "S", description = "weights seed (default: ${DEFAULT-VALUE})")
    long seed = 1;

    @Option(names = "--out", paramLabel = "FILE", description = "GGUF file to write (may be left out with --hf)")
    @Nullable
    Path out;

    @Option(names = "--hf", paramLabel = "DIR", description = "also write the same weights as model.safetensors + config.json here")
    @Nullable
    Path hf;

    @Option(names = "--tokenizer-from", paramLabel = "GGUF", description = "GGUF whose tokenizer is copied and padded to the vocabulary (default: the shipped reference model)")
    Path tokenizerFrom = Paths.get(ModelOptions.DEFAULT_MODEL);

    @Override
    public Integer call() throws Exception {
        if (!arch.equals("llama")) {
            System.err.printf("synth: unsupported --arch '%s'; supported: llama%n", arch);
            return 2;
        }
        GgmlType type;
        switch (quant.toLowerCase(Locale.ROOT)) {
            case "f16":
                type = GgmlType.F16;
                break;
            case "q8_0":
                type = GgmlType.Q8_0;
                break;
            case "q4_0":
                type = GgmlType.Q4_0;
                break;
            default:
                System.err.printf("synth: unsupported --quant '%s'; supported: f16, q8_0, q4_0%n", quant);
                return 2;
        }
        if (out == null && hf == null) {
            System.err.println("synth: nothing to write; give --out FILE, --hf DIR or both");
            return 2;
        }
        SynthModel model = new SynthModel(
                SynthShape.parse(shape), type, seed, ModelOptions.resolve(tokenizerFrom), System.err);
        // Each writer makes its own pass over the rows on one thread: a benchmark that needs both
        // formats quickly runs two processes (--out alone, --hf alone) side by side.
        if (out != null) {
            model.writeGguf(out);
        }
        if (hf != null) {
            model.writeHf(hf);
        }
        return 0;
    }
}
