package io.kvstream.model.vision;

import io.kvstream.model.ModelFormatException;
import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.safetensors.HfConfig;
import io.kvstream.model.safetensors.SafetensorsCheckpoint;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.Tensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Turns a video frame into patch embeddings: one linear layer ({@code W x + b}) over each patch's
 * pixels, which the text model takes in place of the {@code <|img|>} token embeddings.
 *
 * <p>Patch {@code p} covers rows {@code patchSize * (p / side) ..} and columns {@code patchSize *
 * (p % side) ..}; its inputs are those pixels in (y, x, channel) order divided by 255. The
 * projector is tiny, so its weights are copied into arrays.
 */
public final class PatchProjector {

    public static final String GGUF_ARCH = "patch_projector";
    public static final String GGUF_WEIGHT = "v.patch_proj.weight";
    public static final String GGUF_BIAS = "v.patch_proj.bias";
    public static final String HF_WEIGHT = "vision_proj.weight";
    public static final String HF_BIAS = "vision_proj.bias";

    private final VisionConfig config;
    /** Row-major {@code [embeddingLength, patchDim]}. */
    private final float[] weight;

    private final float[] bias;

    public PatchProjector(VisionConfig config, float[] weight, float[] bias) {
        if (weight.length != config.embeddingLength() * config.patchDim()
                || bias.length != config.embeddingLength()) {
            throw new IllegalArgumentException(
                    String.format(
                            "projector weights of %d and %d floats do not fit %s",
                            weight.length, bias.length, config));
        }
        this.config = config;
        this.weight = weight;
        this.bias = bias;
    }

    /**
     * Loads from an mmproj GGUF (arch {@value #GGUF_ARCH}), or from {@value #HF_WEIGHT} of a
     * Hugging Face checkpoint (a {@code .safetensors} file or folder, {@code config.json} beside
     * it with a {@code vision} section).
     */
    public static PatchProjector load(Path path) throws IOException {
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".gguf")) {
            try (GgufFile gguf = GgufFile.open(path)) {
                return fromGguf(gguf);
            }
        }
        Path folder = Files.isDirectory(path) ? path : path.toAbsolutePath().getParent();
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(path)) {
            return fromCheckpoint(ckpt, folder.resolve(HfConfig.FILE_NAME));
        }
    }

    public static PatchProjector fromGguf(GgufFile gguf) throws IOException {
        String arch = gguf.getString(GgufFile.KEY_ARCHITECTURE);
        if (!arch.equals(GGUF_ARCH)) {
            throw new ModelFormatException(
                    String.format(
                            "%s: architecture is '%s', expected '%s' (a vision projector)",
                            gguf.path(), arch, GGUF_ARCH));
        }
        String p = GGUF_ARCH + ".";
        VisionConfig config =
                new VisionConfig(
                        gguf.getInt(p + "frame_size"),
                        gguf.getInt(p + "patch_size"),
                        gguf.getInt(p + "channels"),
                        gguf.getString(p + "image_token"),
                        gguf.getString(p + "frame_marker", VisionConfig.DEFAULT_FRAME_MARKER),
                        gguf.getInt(p + "embedding_length"));
        FloatTensor w = gguf.tensor(GGUF_WEIGHT, config.embeddingLength(), config.patchDim());
        return new PatchProjector(
                config, Tensors.toFloats(w), gguf.floats(GGUF_BIAS, config.embeddingLength()));
    }

    public static PatchProjector fromCheckpoint(SafetensorsCheckpoint ckpt, Path configJson)
            throws IOException {
        JsonNode vision = new ObjectMapper().readTree(configJson.toFile()).path("vision");
        if (!vision.isObject()) {
            throw new ModelFormatException(
                    String.format("%s has no \"vision\" section", configJson));
        }
        int frame = requireInt(configJson, vision, "frame_size");
        int patch = requireInt(configJson, vision, "patch_size");
        int patchDim = requireInt(configJson, vision, "patch_dim");
        if (patchDim % (patch * patch) != 0) {
            throw new ModelFormatException(
                    String.format(
                            "%s: vision.patch_dim %d is not a whole number of %dx%d patches",
                            configJson, patchDim, patch, patch));
        }
        int embedding = (int) ckpt.tensorInfo(HF_WEIGHT).shape()[0];
        VisionConfig config =
                new VisionConfig(
                        frame,
                        patch,
                        patchDim / (patch * patch),
                        vision.path("image_token").asText("<|img|>"),
                        vision.path("frame_marker").asText(VisionConfig.DEFAULT_FRAME_MARKER),
                        embedding);
        FloatTensor w = ckpt.tensor(HF_WEIGHT, embedding, config.patchDim());
        return new PatchProjector(config, Tensors.toFloats(w), ckpt.floats(HF_BIAS, embedding));
    }

    private static int requireInt(Path file, JsonNode node, String key)
            throws ModelFormatException {
        if (!node.path(key).canConvertToInt()) {
            throw new ModelFormatException(
                    String.format("%s: \"vision.%s\" is missing or not an integer", file, key));
        }
        return node.get(key).intValue();
    }

    public VisionConfig config() {
        return config;
    }

    /**
     * Embeds every patch of a frame: {@code out[p * embeddingLength ..]} is patch {@code p}.
     *
     * @param rgb {@code frameSize x frameSize} pixels, row-major, channels interleaved
     */
    public void project(byte[] rgb, float[] out) {
        checkFrame(rgb);
        int n = config.patchesPerFrame();
        if (out.length < n * config.embeddingLength()) {
            throw new IllegalArgumentException(
                    String.format(
                            "output of %d floats cannot hold %d patch embeddings of %d",
                            out.length, n, config.embeddingLength()));
        }
        float[] x = new float[config.patchDim()];
        for (int p = 0; p < n; p++) {
            patchInputs(rgb, p, x);
            apply(x, out, p * config.embeddingLength());
        }
    }

    /** Embeds patch {@code patch} of a frame into {@code out[offset .. + embeddingLength)}. */
    public void projectPatch(byte[] rgb, int patch, float[] out, int offset) {
        checkFrame(rgb);
        float[] x = new float[config.patchDim()];
        patchInputs(rgb, patch, x);
        apply(x, out, offset);
    }

    /** The inputs of patch {@code patch}: its pixels in (y, x, channel) order, divided by 255. */
    public void patchInputs(byte[] rgb, int patch, float[] x) {
        int side = config.patchesPerSide();
        if (patch < 0 || patch >= side * side) {
            throw new IndexOutOfBoundsException(
                    String.format("patch %d of a frame of %d patches", patch, side * side));
        }
        int ps = config.patchSize();
        int ch = config.channels();
        int y0 = ps * (patch / side);
        int x0 = ps * (patch % side);
        int i = 0;
        for (int dy = 0; dy < ps; dy++) {
            int rowStart = ((y0 + dy) * config.frameSize() + x0) * ch;
            for (int k = 0; k < ps * ch; k++) {
                x[i++] = (rgb[rowStart + k] & 0xFF) / 255f;
            }
        }
    }

    private void apply(float[] x, float[] out, int offset) {
        int d = x.length;
        for (int o = 0; o < config.embeddingLength(); o++) {
            float acc = 0f;
            int row = o * d;
            for (int k = 0; k < d; k++) {
                acc += weight[row + k] * x[k];
            }
            out[offset + o] = acc + bias[o];
        }
    }

    private void checkFrame(byte[] rgb) {
        if (rgb.length != config.frameBytes()) {
            throw new IllegalArgumentException(
                    String.format(
                            "a frame must be %dx%dx%d = %d bytes, got %d",
                            config.frameSize(),
                            config.frameSize(),
                            config.channels(),
                            config.frameBytes(),
                            rgb.length));
        }
    }
}
