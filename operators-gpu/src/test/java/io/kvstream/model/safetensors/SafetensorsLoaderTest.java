package io.kvstream.model.safetensors;

import io.kvstream.model.LayerWeights;
import io.kvstream.model.Model;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.ModelFormatException;
import io.kvstream.model.ModelLoader;
import io.kvstream.model.RopeStyle;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.testing.RefModel;
import io.kvstream.testing.TensorAssertions;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SafetensorsLoaderTest {

    @TempDir Path tmp;

    @Test
    void refmodelSafetensorsEqualsGgufUpToRopePermutation() throws IOException {
        Model hf = ModelLoader.load(RefModel.file("refmodel.safetensors"));
        Model gguf = ModelLoader.load(RefModel.file("refmodel-f16.gguf"));
        ModelConfig c = hf.config();
        assertThat(hf.tokenizer()).isNull();
        assertThat(c.ropeStyle()).isEqualTo(RopeStyle.HALF);
        assertThat(c.ropeTheta()).isEqualTo(10000f);
        // Same hyper-parameters as the GGUF apart from the RoPE layout.
        assertThat(c)
                .usingRecursiveComparison()
                .ignoringFields("ropeStyle")
                .isEqualTo(gguf.config());
        assertThat(hf.weights().output()).isNotSameAs(hf.weights().tokenEmbedding());

        assertEqual(hf.weights().tokenEmbedding(), gguf.weights().tokenEmbedding(), 0);
        assertEqual(hf.weights().output(), gguf.weights().output(), 0);
        assertThat(hf.weights().outputNorm()).containsExactly(gguf.weights().outputNorm());
        for (int l = 0; l < c.layers(); l++) {
            LayerWeights h = hf.weights().layers().get(l);
            LayerWeights g = gguf.weights().layers().get(l);
            assertEqual(h.wq(), g.wq(), c.headDim());
            assertEqual(h.wk(), g.wk(), c.headDim());
            assertEqual(h.wv(), g.wv(), 0);
            assertEqual(h.wo(), g.wo(), 0);
            assertEqual(h.wGate(), g.wGate(), 0);
            assertEqual(h.wUp(), g.wUp(), 0);
            assertEqual(h.wDown(), g.wDown(), 0);
            assertThat(h.attnNorm()).containsExactly(g.attnNorm());
            assertThat(h.ffnNorm()).containsExactly(g.ffnNorm());
        }
    }

    private static void assertEqual(FloatTensor hf, FloatTensor gguf, int headDim) {
        TensorAssertions.assertSameRows(hf, gguf, headDim);
    }

    @Test
    void qwen2SafetensorsEqualsGgufWithoutPermutation() throws IOException {
        Model hf = ModelLoader.load(RefModel.file("qwen2-tiny/model.safetensors"));
        Model gguf = ModelLoader.load(RefModel.file("qwen2-tiny/qwen2-tiny-f16.gguf"));
        assertThat(hf.config()).isEqualTo(gguf.config());
        assertThat(hf.weights().output()).isSameAs(hf.weights().tokenEmbedding());
        assertEqual(hf.weights().tokenEmbedding(), gguf.weights().tokenEmbedding(), 0);
        for (int l = 0; l < hf.config().layers(); l++) {
            LayerWeights h = hf.weights().layers().get(l);
            LayerWeights g = gguf.weights().layers().get(l);
            assertEqual(h.wq(), g.wq(), 0);
            assertEqual(h.wk(), g.wk(), 0);
            assertEqual(h.wv(), g.wv(), 0);
            assertEqual(h.wo(), g.wo(), 0);
            assertEqual(h.wDown(), g.wDown(), 0);
            assertThat(h.bq()).containsExactly(g.bq());
            assertThat(h.bk()).containsExactly(g.bk());
            assertThat(h.bv()).containsExactly(g.bv());
        }
    }

    @Test
    void shardedCheckpointLoadsTheSame() throws IOException {
        Path src = RefModel.file("refmodel.safetensors");
        Path dir = Files.createDirectory(tmp.resolve("sharded"));
        Files.copy(RefModel.file("config.json"), dir.resolve("config.json"));
        Map<String, String> weightMap = new LinkedHashMap<>();
        long total = 0;
        try (SafetensorsFile in = SafetensorsFile.open(src)) {
            List<String> names = new ArrayList<>(in.tensorInfos().keySet());
            int half = names.size() / 2;
            for (int shard = 0; shard < 2; shard++) {
                String file = String.format("model-%05d-of-00002.safetensors", shard + 1);
                SafetensorsWriter w = new SafetensorsWriter();
                for (String name : names.subList(shard * half, shard == 0 ? half : names.size())) {
                    SafetensorsTensorInfo info = in.tensorInfo(name);
                    GgmlType type = SafetensorsFile.ggmlType(info.dtype());
                    if (info.shape().length == 1) {
                        w.addVector(name, type, in.floats(name, (int) info.shape()[0]));
                    } else {
                        w.addTensor(name, type, in.tensor(name));
                    }
                    weightMap.put(name, file);
                    total += info.byteSize();
                }
                w.write(dir.resolve(file));
            }
        }
        SafetensorsWriter.writeIndex(dir, weightMap, total);

        Model single = ModelLoader.load(src);
        Model sharded = ModelLoader.load(dir);
        assertThat(sharded.config()).isEqualTo(single.config());
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            assertThat(ckpt.files()).hasSize(2);
        }
        assertEqual(sharded.weights().tokenEmbedding(), single.weights().tokenEmbedding(), 0);
        assertEqual(sharded.weights().output(), single.weights().output(), 0);
        for (int l = 0; l < single.config().layers(); l++) {
            LayerWeights a = sharded.weights().layers().get(l);
            LayerWeights b = single.weights().layers().get(l);
            for (FloatTensor[] pair :
                    new FloatTensor[][] {
                        {a.wq(), b.wq()}, {a.wk(), b.wk()}, {a.wv(), b.wv()}, {a.wo(), b.wo()},
                        {a.wGate(), b.wGate()}, {a.wUp(), b.wUp()}, {a.wDown(), b.wDown()}
                    }) {
                assertEqual(pair[0], pair[1], 0);
            }
            assertThat(a.attnNorm()).containsExactly(b.attnNorm());
            assertThat(a.ffnNorm()).containsExactly(b.ffnNorm());
        }
        // The index file itself is accepted as the model path too.
        assertThat(ModelLoader.load(dir.resolve(SafetensorsCheckpoint.INDEX)).config())
                .isEqualTo(single.config());
    }

    // ------------------------------------------------------------------------------- config

    private HfConfig config(String json) throws IOException {
        Path file = tmp.resolve("config-" + Math.abs(json.hashCode()) + ".json");
        Files.write(file, json.getBytes(StandardCharsets.UTF_8));
        return HfConfig.read(file);
    }

    private static final String BASE =
            "\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2,"
                    + " \"num_attention_heads\": 4, \"vocab_size\": 100";

    @Test
    void configReadsRopeThetaAtTopLevelOrInRopeParameters() throws IOException {
        HfConfig old = config("{\"model_type\": \"llama\", \"rope_theta\": 500000.0, " + BASE + "}");
        HfConfig v5 =
                config(
                        "{\"model_type\": \"llama\", \"rope_parameters\": {\"rope_theta\": 1e6,"
                                + " \"rope_type\": \"default\"}, "
                                + BASE
                                + "}");
        assertThat(old.ropeTheta()).isEqualTo(500000f);
        assertThat(v5.ropeTheta()).isEqualTo(1e6f);
        // Defaults: kv heads = heads, head_dim = hidden / heads, not tied.
        assertThat(old.numKeyValueHeads()).isEqualTo(4);
        assertThat(old.headDim()).isEqualTo(16);
        assertThat(old.tieWordEmbeddings()).isFalse();
        assertThat(old.toModelConfig().ropeStyle()).isEqualTo(RopeStyle.HALF);
    }

    @Test
    void configHonoursExplicitHeadDimAndKvHeads() throws IOException {
        HfConfig c =
                config(
                        "{\"model_type\": \"qwen2\", \"head_dim\": 32, \"num_key_value_heads\": 2,"
                                + " \"rms_norm_eps\": 1e-6, \"tie_word_embeddings\": true,"
                                + " \"max_position_embeddings\": 777, "
                                + BASE
                                + "}");
        ModelConfig m = c.toModelConfig();
        assertThat(m.headDim()).isEqualTo(32);
        assertThat(m.qDim()).isEqualTo(128);
        assertThat(m.kvHeads()).isEqualTo(2);
        assertThat(m.rmsEps()).isEqualTo(1e-6f);
        assertThat(m.contextLength()).isEqualTo(777);
        assertThat(c.tieWordEmbeddings()).isTrue();
    }

    @Test
    void configErrorsNameFileAndKey() throws IOException {
        assertThatThrownBy(() -> config("{\"model_type\": \"gpt2\", " + BASE + "}"))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("config-")
                .hasMessageContaining("'gpt2'");
        assertThatThrownBy(
                        () ->
                                config(
                                        "{\"model_type\": \"llama\", \"hidden_size\": 64,"
                                                + " \"num_attention_heads\": 4}"))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("\"intermediate_size\" is missing");
    }

    // ---------------------------------------------------------------------------- bad files

    @Test
    void truncatedFileNamesTensor() throws IOException {
        Path file = tmp.resolve("t.safetensors");
        float[] v = new float[64];
        Arrays.fill(v, 0.5f);
        new SafetensorsWriter()
                .addVector("a", GgmlType.F32, v)
                .addTensor("b", GgmlType.BF16, 4, 16, (r, out) -> Arrays.fill(out, r))
                .write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertThat(f.floats("a", 64)).containsOnly(0.5f);
            assertThat(f.tensor("b", 4, 16).get(3, 15)).isEqualTo(3f);
            assertThatThrownBy(() -> f.tensor("b", 16, 4))
                    .hasMessageContaining("'b'")
                    .hasMessageContaining("expected [16, 4]");
            assertThatThrownBy(() -> f.tensor("c"))
                    .hasMessageContaining(file.toString())
                    .hasMessageContaining("'c' is missing");
        }
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(bytes, bytes.length - 10));
        assertThatThrownBy(() -> SafetensorsFile.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("truncated")
                .hasMessageContaining("'b'");
    }

    @Test
    void checkpointWithoutConfigIsRejectedClearly() throws IOException {
        Path file = tmp.resolve("model.safetensors");
        new SafetensorsWriter().addVector("a", GgmlType.F32, new float[] {1}).write(file);
        assertThatThrownBy(() -> ModelLoader.load(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("config.json");
    }
}
