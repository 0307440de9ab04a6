package io.kvstream.model.safetensors;

import io.kvstream.model.LayerWeights;
import io.kvstream.model.Model;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.Weights;
import io.kvstream.model.tensor.FloatTensor;

import javax.annotation.Nullable;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds a {@link Model} from a Hugging Face Llama or Qwen2 checkpoint ({@code
 * model.layers.N.self_attn.q_proj.weight}, ...). The model's {@link Model#tokenizer()} is null:
 * the vocabulary of a Hugging Face checkpoint lives in {@code tokenizer.json}, which is read
 * elsewhere.
 */
public final class HfModelReader {

    private HfModelReader() {}

    public static Model read(Path source, SafetensorsCheckpoint ckpt, HfConfig hf)
            throws IOException {
        ModelConfig c = hf.toModelConfig();
        int dim = c.dim();
        FloatTensor embedding = ckpt.tensor("model.embed_tokens.weight", c.vocabSize(), dim);
        List<LayerWeights> layers = new ArrayList<>(c.layers());
        for (int i = 0; i < c.layers(); i++) {
            String p = "model.layers." + i + ".";
            String a = p + "self_attn.";
            layers.add(
                    new LayerWeights(
                            ckpt.floats(p + "input_layernorm.weight", dim),
                            ckpt.tensor(a + "q_proj.weight", c.qDim(), dim),
                            ckpt.tensor(a + "k_proj.weight", c.kvDim(), dim),
                            ckpt.tensor(a + "v_proj.weight", c.kvDim(), dim),
                            ckpt.tensor(a + "o_proj.weight", dim, c.qDim()),
                            optionalFloats(ckpt, a + "q_proj.bias", c.qDim()),
                            optionalFloats(ckpt, a + "k_proj.bias", c.kvDim()),
                            optionalFloats(ckpt, a + "v_proj.bias", c.kvDim()),
                            ckpt.floats(p + "post_attention_layernorm.weight", dim),
                            ckpt.tensor(p + "mlp.gate_proj.weight", c.hiddenDim(), dim),
                            ckpt.tensor(p + "mlp.up_proj.weight", c.hiddenDim(), dim),
                            ckpt.tensor(p + "mlp.down_proj.weight", dim, c.hiddenDim())));
        }
        FloatTensor output =
                !hf.tieWordEmbeddings() && ckpt.hasTensor("lm_head.weight")
                        ? ckpt.tensor("lm_head.weight", c.vocabSize(), dim)
                        : embedding;
        return new Model(
                source,
                c,
                new Weights(embedding, layers, ckpt.floats("model.norm.weight", dim), output),
                null);
    }

    @Nullable
    private static float[] optionalFloats(SafetensorsCheckpoint ckpt, String name, int length)
            throws IOException {
        return ckpt.hasTensor(name) ? ckpt.floats(name, length) : null;
    }
}
