package io.kvstream.model.safetensors;

import io.kvstream.model.ModelConfig;
import io.kvstream.model.ModelFormatException;
import io.kvstream.model.RopeStyle;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The fields of a Hugging Face {@code config.json} that a Llama or Qwen2 forward pass needs.
 *
 * <p>{@code rope_theta} is read at the top level (transformers 4) or from {@code
 * rope_parameters.rope_theta} (transformers 5); {@code head_dim} defaults to {@code hidden_size /
 * num_attention_heads} and {@code num_key_value_heads} to {@code num_attention_heads}.
 */
public record HfConfig(
        String modelType,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int headDim,
        int vocabSize,
        int maxPositionEmbeddings,
        float rmsNormEps,
        float ropeTheta,
        boolean tieWordEmbeddings) {

    private static final Logger LOG = LoggerFactory.getLogger(HfConfig.class);

    public static final String FILE_NAME = "config.json";

    public static HfConfig read(Path configJson) throws IOException {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(configJson.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(
                    String.format("%s is not valid JSON: %s", configJson, e.getMessage()), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(
                    String.format("%s does not hold a JSON object", configJson));
        }
        return parse(configJson, root);
    }

    static HfConfig parse(Path file, JsonNode root) throws ModelFormatException {
        String type = root.path("model_type").asText("");
        if (!type.equals("llama") && !type.equals("qwen2")) {
            throw new ModelFormatException(
                    String.format(
                            "%s: model_type '%s' is not supported; supported: llama, qwen2",
                            file, type));
        }
        int hidden = requireInt(file, root, "hidden_size");
        int heads = requireInt(file, root, "num_attention_heads");
        int kvHeads = optionalInt(file, root, "num_key_value_heads", heads);
        int headDim = optionalInt(file, root, "head_dim", hidden / heads);

        JsonNode ropeParams = root.path("rope_parameters");
        float theta;
        if (ropeParams.hasNonNull("rope_theta")) {
            theta = (float) ropeParams.get("rope_theta").asDouble();
        } else if (root.hasNonNull("rope_theta")) {
            theta = (float) root.get("rope_theta").asDouble();
        } else {
            theta = 10000f;
        }
        String ropeType = ropeParams.path("rope_type").asText("default");
        if (!ropeType.equals("default") || root.hasNonNull("rope_scaling")) {
            // Llama 3.1-style frequency scaling changes long-context behaviour only.
            LOG.warn(
                    "{}: RoPE scaling ({}) is ignored; positions beyond the original context"
                            + " will differ from transformers",
                    file,
                    root.hasNonNull("rope_scaling") ? root.get("rope_scaling") : ropeType);
        }
        return new HfConfig(
                type,
                hidden,
                requireInt(file, root, "intermediate_size"),
                requireInt(file, root, "num_hidden_layers"),
                heads,
                kvHeads,
                headDim,
                requireInt(file, root, "vocab_size"),
                optionalInt(file, root, "max_position_embeddings", 2048),
                root.hasNonNull("rms_norm_eps")
                        ? (float) root.get("rms_norm_eps").asDouble()
                        : 1e-6f,
                theta,
                root.path("tie_word_embeddings").asBoolean(false));
    }

    private static int requireInt(Path file, JsonNode root, String key)
            throws ModelFormatException {
        if (!root.hasNonNull(key)) {
            throw new ModelFormatException(String.format("%s: \"%s\" is missing", file, key));
        }
        return optionalInt(file, root, key, 0);
    }

    private static int optionalInt(Path file, JsonNode root, String key, int defaultValue)
            throws ModelFormatException {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return defaultValue;
        }
        if (!n.canConvertToInt() || !n.isIntegralNumber()) {
            throw new ModelFormatException(
                    String.format("%s: \"%s\" is %s, expected an integer", file, key, n));
        }
        return n.intValue();
    }

    /** The runtime config: Hugging Face checkpoints rotate halves ({@link RopeStyle#HALF}). */
    public ModelConfig toModelConfig() {
        return new ModelConfig(
                modelType,
                hiddenSize,
                intermediateSize,
                numHiddenLayers,
                numAttentionHeads,
                numKeyValueHeads,
                headDim,
                vocabSize,
                maxPositionEmbeddings,
                rmsNormEps,
                ropeTheta,
                RopeStyle.HALF);
    }
}
