package io.kvstream.model.gguf;

import io.kvstream.model.LayerWeights;
import io.kvstream.model.Model;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.ModelFormatException;
import io.kvstream.model.RopeStyle;
import io.kvstream.model.Weights;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.tokenizer.TokenizerData;

import javax.annotation.Nullable;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Builds a {@link Model} from a GGUF file with llama.cpp's key and tensor names
 * ({@code llama.*}, {@code blk.N.attn_q.weight}, ...).
 */
public final class GgufModelReader {

    private GgufModelReader() {}

    public static Model read(GgufFile gguf) throws IOException {
        ModelConfig config = readConfig(gguf);
        Weights weights = readWeights(gguf, config);
        return new Model(gguf.path(), config, weights, readTokenizer(gguf));
    }

    /** Hyper-parameters from {@code {arch}.*} keys. */
    public static ModelConfig readConfig(GgufFile gguf) throws IOException {
        String arch = gguf.getString(GgufFile.KEY_ARCHITECTURE);
        RopeStyle rope;
        switch (arch) {
            case "llama":
                // llama.cpp's converter permutes Q/K rows for GGML's normal (interleaved) RoPE.
                rope = RopeStyle.INTERLEAVED;
                break;
            case "qwen2":
                rope = RopeStyle.HALF;
                break;
            default:
                throw new ModelFormatException(
                        String.format(
                                "%s: architecture '%s' is not supported; supported: llama, qwen2",
                                gguf.path(), arch));
        }
        int dim = gguf.getInt(arch + ".embedding_length");
        int heads = gguf.getInt(arch + ".attention.head_count");
        int kvHeads = gguf.getInt(arch + ".attention.head_count_kv", heads);
        int headDim = gguf.getInt(arch + ".attention.key_length", dim / heads);
        int ropeDims = gguf.getInt(arch + ".rope.dimension_count", headDim);
        if (ropeDims != headDim) {
            throw new ModelFormatException(
                    String.format(
                            "%s: %s.rope.dimension_count is %d but heads are %d wide; partial"
                                    + " rotary embeddings are not supported",
                            gguf.path(), arch, ropeDims, headDim));
        }
        int vocab;
        if (gguf.has("tokenizer.ggml.tokens")) {
            vocab = gguf.getStringList("tokenizer.ggml.tokens").size();
        } else if (gguf.has(arch + ".vocab_size")) {
            vocab = gguf.getInt(arch + ".vocab_size");
        } else {
            vocab = (int) gguf.tensorInfo("token_embd.weight").rows();
        }
        return new ModelConfig(
                arch,
                dim,
                gguf.getInt(arch + ".feed_forward_length"),
                gguf.getInt(arch + ".block_count"),
                heads,
                kvHeads,
                headDim,
                vocab,
                gguf.getInt(arch + ".context_length"),
                gguf.getFloat(arch + ".attention.layer_norm_rms_epsilon"),
                gguf.getFloat(arch + ".rope.freq_base", 10000f),
                rope);
    }

    private static Weights readWeights(GgufFile gguf, ModelConfig c) throws IOException {
        int dim = c.dim();
        FloatTensor embedding = gguf.tensor("token_embd.weight", c.vocabSize(), dim);
        List<LayerWeights> layers = new ArrayList<>(c.layers());
        for (int i = 0; i < c.layers(); i++) {
            String p = "blk." + i + ".";
            layers.add(
                    new LayerWeights(
                            gguf.floats(p + "attn_norm.weight", dim),
                            gguf.tensor(p + "attn_q.weight", c.qDim(), dim),
                            gguf.tensor(p + "attn_k.weight", c.kvDim(), dim),
                            gguf.tensor(p + "attn_v.weight", c.kvDim(), dim),
                            gguf.tensor(p + "attn_output.weight", dim, c.qDim()),
                            optionalFloats(gguf, p + "attn_q.bias", c.qDim()),
                            optionalFloats(gguf, p + "attn_k.bias", c.kvDim()),
                            optionalFloats(gguf, p + "attn_v.bias", c.kvDim()),
                            gguf.floats(p + "ffn_norm.weight", dim),
                            gguf.tensor(p + "ffn_gate.weight", c.hiddenDim(), dim),
                            gguf.tensor(p + "ffn_up.weight", c.hiddenDim(), dim),
                            gguf.tensor(p + "ffn_down.weight", dim, c.hiddenDim())));
        }
        FloatTensor output =
                gguf.hasTensor("output.weight")
                        ? gguf.tensor("output.weight", c.vocabSize(), dim)
                        : embedding;
        return new Weights(embedding, layers, gguf.floats("output_norm.weight", dim), output);
    }

    @Nullable
    private static float[] optionalFloats(GgufFile gguf, String name, int length)
            throws IOException {
        return gguf.hasTensor(name) ? gguf.floats(name, length) : null;
    }

    /** The vocabulary in {@code tokenizer.ggml.*}, or null when the file has none. */
    @Nullable
    public static TokenizerData readTokenizer(GgufFile gguf) throws IOException {
        if (!gguf.has("tokenizer.ggml.tokens")) {
            return null;
        }
        List<String> tokens = gguf.getStringList("tokenizer.ggml.tokens");
        int[] types;
        if (gguf.has("tokenizer.ggml.token_type")) {
            types = gguf.getIntArray("tokenizer.ggml.token_type");
        } else {
            types = new int[tokens.size()];
            Arrays.fill(types, TokenizerData.TYPE_NORMAL);
        }
        List<String> merges =
                gguf.has("tokenizer.ggml.merges")
                        ? gguf.getStringList("tokenizer.ggml.merges")
                        : List.of();
        try {
            return new TokenizerData(
                    tokens,
                    merges,
                    types,
                    gguf.getString("tokenizer.ggml.pre", "default"),
                    gguf.getInt("tokenizer.ggml.bos_token_id", -1),
                    gguf.getInt("tokenizer.ggml.eos_token_id", -1),
                    gguf.getString("tokenizer.chat_template", null));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(
                    String.format("%s: bad tokenizer metadata: %s", gguf.path(), e.getMessage()),
                    e);
        }
    }
}
