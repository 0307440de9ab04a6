package io.kvstream.model.synth;

import io.kvstream.model.LayerWeights;
import io.kvstream.model.Model;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.ModelLoader;
import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.gguf.GgufTensorInfo;
import io.kvstream.model.RopeStyle;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.testing.RefModel;
import io.kvstream.testing.TensorAssertions;
import io.kvstream.tokenizer.TokenizerData;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class SynthModelTest {

    @TempDir Path tmp;

    private SynthModel tiny(GgmlType type) throws IOException {
        return new SynthModel(
                SynthShape.TINY, type, 7, RefModel.file("refmodel-f16.gguf"), null);
    }

    @Test
    void tinyGgufLoadsWithShapeConfigAndPaddedTokenizer() throws IOException {
        Path file = tmp.resolve("tiny.gguf");
        tiny(GgmlType.F16).writeGguf(file);
        Model m = ModelLoader.load(file);
        ModelConfig c = m.config();
        assertThat(c)
                .isEqualTo(
                        new ModelConfig(
                                "llama", 64, 128, 2, 4, 2, 16, 2112, 2048, 1e-5f, 10000f,
                                RopeStyle.INTERLEAVED));
        assertThat(m.weights().output()).isSameAs(m.weights().tokenEmbedding());
        assertThat(m.weights().tokenEmbedding().type()).isEqualTo(GgmlType.F16);

        TokenizerData ref = ModelLoader.load(RefModel.file("refmodel-f16.gguf")).tokenizer();
        TokenizerData tok = m.tokenizer();
        assertThat(tok.tokens()).hasSize(2112);
        assertThat(tok.tokens().subList(0, 2048)).isEqualTo(ref.tokens());
        assertThat(tok.tokens().get(2048)).isEqualTo("<|unused_0|>");
        assertThat(tok.tokens().get(2111)).isEqualTo("<|unused_63|>");
        assertThat(tok.tokenTypes()[2111]).isEqualTo(TokenizerData.TYPE_UNUSED);
        assertThat(tok.tokenTypes()[5]).isEqualTo(ref.tokenTypes()[5]);
        assertThat(tok.merges()).isEqualTo(ref.merges());
        assertThat(tok.bosId()).isEqualTo(ref.bosId());
        assertThat(tok.eosId()).isEqualTo(ref.eosId());
        assertThat(tok.chatTemplate()).isEqualTo(ref.chatTemplate());

        // Weights look like an initialized model: mean 0, std 0.02; norms are ones.
        LayerWeights l0 = m.weights().layers().get(0);
        assertThat(l0.attnNorm()).containsOnly(1f);
        assertThat(m.weights().outputNorm()).containsOnly(1f);
        double[] stats = moments(m.weights().tokenEmbedding());
        assertThat(stats[0]).isCloseTo(0, within(1e-3));
        assertThat(stats[1]).isCloseTo(SynthModel.WEIGHT_STD, within(1e-3));
        stats = moments(l0.wDown());
        assertThat(stats[1]).isCloseTo(SynthModel.WEIGHT_STD, within(1e-3));
    }

    private static double[] moments(FloatTensor t) {
        float[] row = new float[t.cols()];
        double sum = 0;
        double sum2 = 0;
        long n = (long) t.rows() * t.cols();
        for (int r = 0; r < t.rows(); r++) {
            t.dequantizeRow(r, row, 0);
            for (float v : row) {
                sum += v;
                sum2 += (double) v * v;
            }
        }
        double mean = sum / n;
        return new double[] {mean, Math.sqrt(sum2 / n - mean * mean)};
    }

    @Test
    void writingIsDeterministic() throws IOException {
        Path a = tmp.resolve("a.gguf");
        Path b = tmp.resolve("b.gguf");
        tiny(GgmlType.Q8_0).writeGguf(a);
        tiny(GgmlType.Q8_0).writeGguf(b);
        assertThat(Files.mismatch(a, b)).isEqualTo(-1L);
        Path other = tmp.resolve("c.gguf");
        new SynthModel(SynthShape.TINY, GgmlType.Q8_0, 8, RefModel.file("refmodel-f16.gguf"), null)
                .writeGguf(other);
        assertThat(Files.mismatch(a, other)).isNotEqualTo(-1L);
    }

    @Test
    void huggingFaceFolderHoldsTheSameWeightsF16() throws IOException {
        assertHfMatchesGguf(GgmlType.F16, GgmlType.F16);
    }

    @Test
    void huggingFaceFolderHoldsTheSameWeightsQ8_0() throws IOException {
        assertHfMatchesGguf(GgmlType.Q8_0, GgmlType.F32);
    }

    @Test
    void huggingFaceFolderHoldsTheSameWeightsQ4_0() throws IOException {
        assertHfMatchesGguf(GgmlType.Q4_0, GgmlType.F32);
    }

    @Test
    void q4_0FilesAreAllQ4_0ForLlamaCpp() throws IOException {
        Path file = tmp.resolve("tiny-q4_0.gguf");
        tiny(GgmlType.Q4_0).writeGguf(file);
        try (GgufFile g = GgufFile.open(file)) {
            // LLAMA_FTYPE_MOSTLY_Q4_0, which llama.cpp prints as the file's type.
            assertThat(g.getInt("general.file_type")).isEqualTo(2);
            for (GgufTensorInfo t : g.tensorInfos().values()) {
                assertThat(t.type())
                        .as(t.name())
                        .isEqualTo(t.dims().length == 1 ? GgmlType.F32 : GgmlType.Q4_0);
            }
        }
        // The same random weights as the F16 file, at 4 bits: within a step (max|w| / 8) of them.
        Path f16 = tmp.resolve("tiny-f16.gguf");
        tiny(GgmlType.F16).writeGguf(f16);
        FloatTensor q = ModelLoader.load(file).weights().layers().get(1).wUp();
        FloatTensor h = ModelLoader.load(f16).weights().layers().get(1).wUp();
        float[] qr = new float[q.cols()];
        float[] hr = new float[h.cols()];
        double maxError = 0;
        for (int r = 0; r < q.rows(); r++) {
            q.dequantizeRow(r, qr, 0);
            h.dequantizeRow(r, hr, 0);
            for (int c = 0; c < qr.length; c++) {
                maxError = Math.max(maxError, Math.abs(qr[c] - hr[c]));
            }
        }
        assertThat(maxError).isGreaterThan(0).isLessThan(5 * SynthModel.WEIGHT_STD / 8);
    }

    private void assertHfMatchesGguf(GgmlType ggufType, GgmlType hfType) throws IOException {
        SynthModel synth = tiny(ggufType);
        Path gguf = tmp.resolve("tiny.gguf");
        Path hfDir = tmp.resolve("hf");
        synth.writeGguf(gguf);
        synth.writeHf(hfDir);
        Model g = ModelLoader.load(gguf);
        Model h = ModelLoader.load(hfDir);
        assertThat(h.config())
                .usingRecursiveComparison()
                .ignoringFields("ropeStyle")
                .isEqualTo(g.config());
        assertThat(h.config().ropeStyle()).isEqualTo(RopeStyle.HALF);
        assertThat(h.weights().output()).isSameAs(h.weights().tokenEmbedding());
        assertThat(h.weights().tokenEmbedding().type()).isEqualTo(hfType);
        assertThat(g.weights().tokenEmbedding().type()).isEqualTo(ggufType);
        int headDim = g.config().headDim();
        TensorAssertions.assertSameRows(h.weights().tokenEmbedding(), g.weights().tokenEmbedding(), 0);
        for (int l = 0; l < g.config().layers(); l++) {
            LayerWeights a = h.weights().layers().get(l);
            LayerWeights b = g.weights().layers().get(l);
            TensorAssertions.assertSameRows(a.wq(), b.wq(), headDim);
            TensorAssertions.assertSameRows(a.wk(), b.wk(), headDim);
            TensorAssertions.assertSameRows(a.wv(), b.wv(), 0);
            TensorAssertions.assertSameRows(a.wo(), b.wo(), 0);
            TensorAssertions.assertSameRows(a.wGate(), b.wGate(), 0);
            TensorAssertions.assertSameRows(a.wUp(), b.wUp(), 0);
            TensorAssertions.assertSameRows(a.wDown(), b.wDown(), 0);
            assertThat(a.ffnNorm()).containsExactly(b.ffnNorm());
        }
        String config = Files.readString(hfDir.resolve("config.json"));
        assertThat(config).contains("\"rope_theta\"").contains("LlamaForCausalLM");
    }

    @Test
    void ropeRowMapIsAPermutationWithinEachHead() {
        int headDim = 8;
        BitSet seen = new BitSet();
        for (int g = 0; g < 3 * headDim; g++) {
            int r = SynthModel.hfRowOfGgufRow(g, headDim);
            assertThat(r / headDim).isEqualTo(g / headDim);
            seen.set(r);
        }
        assertThat(seen.cardinality()).isEqualTo(3 * headDim);
        // GGUF rows 0, 1 pair HF dimensions 0 and headDim/2 (rotate-half partners).
        assertThat(SynthModel.hfRowOfGgufRow(0, headDim)).isEqualTo(0);
        assertThat(SynthModel.hfRowOfGgufRow(1, headDim)).isEqualTo(4);
        assertThat(SynthModel.hfRowOfGgufRow(2, headDim)).isEqualTo(1);
    }

    @Test
    void shapesOfRealModels() {
        SynthShape b1 = SynthShape.parse("1b");
        assertThat(b1.dim()).isEqualTo(2048);
        assertThat(b1.headDim()).isEqualTo(64);
        assertThat(b1.tiedEmbeddings()).isTrue();
        SynthShape b8 = SynthShape.parse("8b");
        assertThat(b8.hiddenDim()).isEqualTo(14336);
        assertThat(b8.headDim()).isEqualTo(128);
        assertThat(b8.tiedEmbeddings()).isFalse();
        assertThat(b8.vocabSize()).isEqualTo(128256);
    }

    @Test
    void llama3SizedVocabulariesGetLlama3SpecialTokensAtTheirIds() {
        assertThat(SynthModel.llama3Special(128000)).isEqualTo("<|begin_of_text|>");
        assertThat(SynthModel.llama3Special(128001)).isEqualTo("<|end_of_text|>");
        assertThat(SynthModel.llama3Special(128002)).isEqualTo("<|reserved_special_token_0|>");
        assertThat(SynthModel.llama3Special(128005)).isEqualTo("<|reserved_special_token_2|>");
        assertThat(SynthModel.llama3Special(128006)).isEqualTo("<|start_header_id|>");
        assertThat(SynthModel.llama3Special(128009)).isEqualTo("<|eot_id|>");
        assertThat(SynthModel.llama3Special(128011)).isEqualTo("<|reserved_special_token_3|>");
        assertThat(SynthModel.llama3Special(128255)).isEqualTo("<|reserved_special_token_247|>");
        java.util.Set<String> names = new java.util.HashSet<>();
        for (int id = 128000; id < 128256; id++) {
            names.add(SynthModel.llama3Special(id));
        }
        assertThat(names).hasSize(256);
    }
}
