package io.kvstream.generate;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.DenseKvCache;
import io.kvstream.kv.KvCache;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.RopeSpec;
import io.kvstream.model.Model;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.ModelFingerprint;
import io.kvstream.model.ModelFormatException;
import io.kvstream.model.ModelLoader;
import io.kvstream.model.RopeStyle;
import io.kvstream.model.vision.PatchProjector;
import io.kvstream.runtime.BackendFactory;
import io.kvstream.runtime.Device;
import io.kvstream.runtime.ForwardBackend;
import io.kvstream.tokenizer.BpeTokenizer;
import io.kvstream.tokenizer.ChatTemplate;
import io.kvstream.tokenizer.TokenizerData;
import io.kvstream.tokenizer.TokenizerJson;

import javax.annotation.Nullable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A model ready to serve: weights, tokenizer, chat template, the optional vision projector and a
 * forward backend. What the commands and the pipeline operators open once and share.
 */
public final class Engine implements AutoCloseable {

    private final Model model;
    private final BpeTokenizer tokenizer;
    @Nullable private final ChatTemplate chatTemplate;
    @Nullable private final PatchProjector projector;
    private final ForwardBackend backend;
    private final String fingerprint;

    private Engine(
            Model model, BpeTokenizer tokenizer, @Nullable ChatTemplate chatTemplate,
            @Nullable PatchProjector projector, ForwardBackend backend, String fingerprint) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        this.projector = projector;
        this.backend = backend;
        this.fingerprint = fingerprint;
    }

    /**
     * Opens a model file or checkpoint folder.
     *
     * @param mmproj a separate vision projector (GGUF); when null, a Hugging Face checkpoint's own
     *     {@code vision_proj} is used if it has one
     * @param tokenizerJson a {@code tokenizer.json} to use instead of the model's own
     * @param threads CPU threads for the forward pass, which runs on the CPU
     */
    public static Engine open(
            Path modelPath, @Nullable Path mmproj, @Nullable Path tokenizerJson, int threads)
            throws IOException {
        return open(modelPath, mmproj, tokenizerJson, Device.CPU, threads);
    }

    /**
     * Opens a model file or checkpoint folder, with the forward pass on {@code device}.
     *
     * @param threads CPU threads for the forward pass, when it runs on the CPU
     * @see #open(Path, Path, Path, int)
     */
    public static Engine open(
            Path modelPath, @Nullable Path mmproj, @Nullable Path tokenizerJson, Device device, int threads)
            throws IOException {
        Model model = ModelLoader.load(modelPath);
        TokenizerData data = model.tokenizer();
        if (tokenizerJson != null) {
            Path config = tokenizerJson.resolveSibling("tokenizer_config.json");
            data = TokenizerJson.read(tokenizerJson, Files.isRegularFile(config) ? config : null);
        } else if (data == null) {
            data = readTokenizerJson(modelPath);
        }
        if (data.tokens().size() > model.config().vocabSize()) {
            throw new ModelFormatException(
                    String.format(
                            "%s: the tokenizer has %d tokens but the model only %d rows",
                            modelPath, data.tokens().size(), model.config().vocabSize()));
        }
        BpeTokenizer tokenizer = new BpeTokenizer(data);
        ChatTemplate template = data.chatTemplate() != null ? ChatTemplate.of(data) : null;
        PatchProjector projector = null;
        if (mmproj != null) {
            projector = PatchProjector.load(mmproj);
        } else if (!modelPath.toString().endsWith(".gguf") && hasVisionConfig(modelPath)) {
            projector = PatchProjector.load(modelPath);
        }
        if (projector != null
                && projector.config().embeddingLength() != model.config().dim()) {
            throw new ModelFormatException(
                    String.format(
                            "%s: the projector makes embeddings of %d but the model's width is %d",
                            mmproj != null ? mmproj : modelPath,
                            projector.config().embeddingLength(), model.config().dim()));
        }
        List<Path> shaping = new ArrayList<>(List.of(modelPath));
        if (mmproj != null) {
            shaping.add(mmproj);
        }
        if (tokenizerJson != null) {
            shaping.add(tokenizerJson);
        }
        String fingerprint = ModelFingerprint.of(shaping.toArray(Path[]::new));
        return new Engine(
                model, tokenizer, template, projector, BackendFactory.open(model, device, threads), fingerprint);
    }

    private static TokenizerData readTokenizerJson(Path modelPath) throws IOException {
        Path folder = Files.isDirectory(modelPath) ? modelPath : modelPath.toAbsolutePath().getParent();
        Path json = folder.resolve("tokenizer.json");
        if (!Files.isRegularFile(json)) {
            throw new ModelFormatException(
                    String.format("%s: no tokenizer.json beside the checkpoint (%s)", modelPath, json));
        }
        Path config = folder.resolve("tokenizer_config.json");
        return TokenizerJson.read(json, Files.isRegularFile(config) ? config : null);
    }

    private static boolean hasVisionConfig(Path modelPath) throws IOException {
        Path folder = Files.isDirectory(modelPath) ? modelPath : modelPath.toAbsolutePath().getParent();
        Path config = folder.resolve("config.json");
        return Files.isRegularFile(config) && Files.readString(config).contains("\"vision\"");
    }

    /**
     * The {@link ModelFingerprint} of the files this engine was opened from (model, projector,
     * tokenizer override): what stored KV caches record, so another model never reads them.
     */
    public String fingerprint() {
        return fingerprint;
    }

    public Model model() {
        return model;
    }

    public ModelConfig config() {
        return model.config();
    }

    public BpeTokenizer tokenizer() {
        return tokenizer;
    }

    @Nullable
    public ChatTemplate chatTemplate() {
        return chatTemplate;
    }

    @Nullable
    public PatchProjector projector() {
        return projector;
    }

    public ForwardBackend backend() {
        return backend;
    }

    /** A prompt builder; {@code dropThreshold} > 0 drops unchanged video patches. */
    public PromptBuilder prompts(float dropThreshold) {
        return new PromptBuilder(tokenizer, projector, dropThreshold);
    }

    /** A full-precision cache bounded by the model's context. */
    public KvCache newFullCache() {
        ModelConfig c = model.config();
        return new DenseKvCache(c.layers(), c.kvHeads(), c.headDim(), c.contextLength());
    }

    /** A cache that keeps what {@code spec} says (codec and eviction), stored in blocks. */
    public CompressedKvCache newCache(KvSpec spec) {
        ModelConfig c = model.config();
        return new CompressedKvCache(
                spec, c.layers(), c.heads(), c.kvHeads(), c.headDim(), c.contextLength(),
                new RopeSpec(c.headDim(), c.ropeTheta(), c.ropeStyle() == RopeStyle.INTERLEAVED));
    }

    /** Ids that end a turn: the tokenizer's end-of-sequence token. */
    public int[] stopTokens() {
        return tokenizer.eosId() >= 0 ? new int[] {tokenizer.eosId()} : new int[0];
    }

    @Override
    public void close() {
        backend.close();
    }
}
