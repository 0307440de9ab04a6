package io.kvstream.model;

import io.kvstream.model.gguf.GgufWriter;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.testing.RefModel;
import io.kvstream.tokenizer.TokenizerData;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GgufModelLoaderTest {

    @TempDir Path tmp;

    @Test
    void loadsReferenceModelF16() throws IOException {
        Model model = ModelLoader.load(RefModel.file("refmodel-f16.gguf"));
        ModelConfig c = model.config();
        assertThat(c.architecture()).isEqualTo("llama");
        assertThat(c.dim()).isEqualTo(256);
        assertThat(c.hiddenDim()).isEqualTo(768);
        assertThat(c.layers()).isEqualTo(8);
        assertThat(c.heads()).isEqualTo(4);
        assertThat(c.kvHeads()).isEqualTo(2);
        assertThat(c.headDim()).isEqualTo(64);
        assertThat(c.vocabSize()).isEqualTo(2048);
        assertThat(c.contextLength()).isEqualTo(4096);
        assertThat(c.rmsEps()).isEqualTo(1e-5f);
        assertThat(c.ropeTheta()).isEqualTo(10000f);
        assertThat(c.ropeStyle()).isEqualTo(RopeStyle.INTERLEAVED);

        Weights w = model.weights();
        assertThat(w.layers()).hasSize(8);
        assertThat(w.output()).isNotSameAs(w.tokenEmbedding());
        assertThat(w.output().type()).isEqualTo(GgmlType.F16);
        LayerWeights l0 = w.layers().get(0);
        assertThat(l0.wk().rows()).isEqualTo(128);
        assertThat(l0.wo().cols()).isEqualTo(256);
        assertThat(l0.wDown().cols()).isEqualTo(768);
        assertThat(l0.bq()).isNull();
        assertThat(l0.attnNorm()).hasSize(256);
        // Trained norms are not all ones.
        assertThat(l0.attnNorm()).isNotEqualTo(new float[256]);

        TokenizerData tok = model.tokenizer();
        assertThat(tok).isNotNull();
        assertThat(tok.tokens()).hasSize(2048);
        assertThat(tok.tokens().get(5)).isEqualTo("<|end|>");
        assertThat(tok.bosId()).isEqualTo(1);
        assertThat(tok.eosId()).isEqualTo(5);
        assertThat(tok.tokenTypes()[5]).isEqualTo(TokenizerData.TYPE_CONTROL);
        assertThat(tok.merges()).isNotEmpty();
        assertThat(tok.preTokenizer()).isEqualTo("gpt-2");
        assertThat(tok.chatTemplate()).contains("<|assistant|>");
    }

    @Test
    void q8_0RowsAreCloseToF16Rows() throws IOException {
        Model f16 = ModelLoader.load(RefModel.file("refmodel-f16.gguf"));
        Model q8 = ModelLoader.load(RefModel.file("refmodel-q8_0.gguf"));
        assertThat(q8.config()).isEqualTo(f16.config());
        assertThat(q8.weights().layers().get(3).wq().type()).isEqualTo(GgmlType.Q8_0);

        double worstRelRms = 0;
        for (int l = 0; l < 8; l++) {
            LayerWeights a = f16.weights().layers().get(l);
            LayerWeights b = q8.weights().layers().get(l);
            assertThat(b.attnNorm()).containsExactly(a.attnNorm());
            worstRelRms = Math.max(worstRelRms, compareQ8(a.wq(), b.wq()));
            worstRelRms = Math.max(worstRelRms, compareQ8(a.wDown(), b.wDown()));
        }
        worstRelRms = Math.max(
                worstRelRms,
                compareQ8(f16.weights().tokenEmbedding(), q8.weights().tokenEmbedding()));
        worstRelRms = Math.max(
                worstRelRms, compareQ8(f16.weights().output(), q8.weights().output()));
        // 8-bit with per-32 scales: about 0.5% of the row RMS; a wrong layout gives ~100%.
        assertThat(worstRelRms).isLessThan(0.02);
    }

    /** Checks every Q8_0 block against its bound; returns the worst relative RMS error of a row. */
    private static double compareQ8(FloatTensor f16, FloatTensor q8) {
        assertThat(q8.rows()).isEqualTo(f16.rows());
        assertThat(q8.cols()).isEqualTo(f16.cols());
        float[] x = new float[f16.cols()];
        float[] y = new float[f16.cols()];
        double worst = 0;
        for (int r = 0; r < f16.rows(); r++) {
            f16.dequantizeRow(r, x, 0);
            q8.dequantizeRow(r, y, 0);
            double err2 = 0;
            double sum2 = 0;
            for (int b = 0; b < x.length; b += 32) {
                float amax = 0;
                for (int j = 0; j < 32; j++) {
                    amax = Math.max(amax, Math.abs(x[b + j]));
                }
                // Half a quantization step, widened for the fp16 rounding of the scale and of
                // the F16 reference itself.
                float bound = 0.6f * amax / 127 + amax * 0x1p-10f;
                for (int j = 0; j < 32; j++) {
                    float e = Math.abs(x[b + j] - y[b + j]);
                    assertThat(e)
                            .as("%s row %d col %d", q8.name(), r, b + j)
                            .isLessThanOrEqualTo(bound);
                    err2 += (double) e * e;
                    sum2 += (double) x[b + j] * x[b + j];
                }
            }
            if (sum2 > 0) {
                worst = Math.max(worst, Math.sqrt(err2 / sum2));
            } else {
                assertThat(err2).as("%s row %d is zero in F16", q8.name(), r).isZero();
            }
        }
        return worst;
    }

    @Test
    void loadsQwen2Tiny() throws IOException {
        Model model = ModelLoader.load(RefModel.file("qwen2-tiny/qwen2-tiny-f16.gguf"));
        ModelConfig c = model.config();
        assertThat(c.architecture()).isEqualTo("qwen2");
        assertThat(c.dim()).isEqualTo(128);
        assertThat(c.hiddenDim()).isEqualTo(352);
        assertThat(c.layers()).isEqualTo(2);
        assertThat(c.heads()).isEqualTo(4);
        assertThat(c.kvHeads()).isEqualTo(2);
        assertThat(c.headDim()).isEqualTo(32);
        assertThat(c.vocabSize()).isEqualTo(2048);
        assertThat(c.rmsEps()).isEqualTo(1e-6f);
        assertThat(c.ropeTheta()).isEqualTo(1e6f);
        assertThat(c.ropeStyle()).isEqualTo(RopeStyle.HALF);
        LayerWeights l1 = model.weights().layers().get(1);
        assertThat(l1.bq()).hasSize(128);
        assertThat(l1.bk()).hasSize(64);
        assertThat(l1.bv()).hasSize(64);
        assertThat(l1.bq()).isNotEqualTo(new float[128]);
        assertThat(model.weights().output()).isSameAs(model.weights().tokenEmbedding());
        assertThat(model.tokenizer()).isNotNull();
    }

    // ---------------------------------------------------------------------------- bad models

    /** A random llama of dim 32, two heads of 16, one kv head, 1 layer, vocab 8. */
    private Path tinyLlama(String arch, String skipTensor) throws IOException {
        int dim = 32;
        int hidden = 64;
        int vocab = 8;
        SplittableRandom rnd = new SplittableRandom(1);
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", arch);
        w.putUInt32(arch + ".embedding_length", dim);
        w.putUInt32(arch + ".feed_forward_length", hidden);
        w.putUInt32(arch + ".block_count", 1);
        w.putUInt32(arch + ".attention.head_count", 2);
        w.putUInt32(arch + ".attention.head_count_kv", 1);
        w.putUInt32(arch + ".context_length", 128);
        w.putFloat32(arch + ".rope.freq_base", 500000f);
        w.putFloat32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
        List<String> tokens = new ArrayList<>();
        for (int i = 0; i < vocab; i++) {
            tokens.add("t" + i);
        }
        w.putStringArray("tokenizer.ggml.tokens", tokens);
        String[][] mats = {
            {"token_embd.weight", "8", "32"},
            {"blk.0.attn_q.weight", "32", "32"},
            {"blk.0.attn_k.weight", "16", "32"},
            {"blk.0.attn_v.weight", "16", "32"},
            {"blk.0.attn_output.weight", "32", "32"},
            {"blk.0.ffn_gate.weight", "64", "32"},
            {"blk.0.ffn_up.weight", "64", "32"},
            {"blk.0.ffn_down.weight", "32", "64"},
        };
        for (String[] m : mats) {
            if (m[0].equals(skipTensor)) {
                continue;
            }
            int rows = Integer.parseInt(m[1]);
            int cols = Integer.parseInt(m[2]);
            float[] v = new float[rows * cols];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) rnd.nextGaussian() * 0.02f;
            }
            w.addMatrix(m[0], GgmlType.Q8_0, rows, cols, v);
        }
        for (String n : new String[] {"blk.0.attn_norm.weight", "blk.0.ffn_norm.weight", "output_norm.weight"}) {
            float[] ones = new float[dim];
            java.util.Arrays.fill(ones, 1f);
            w.addVector(n, GgmlType.F32, ones);
        }
        Path file = tmp.resolve(arch + "-" + skipTensor + ".gguf");
        w.write(file);
        return file;
    }

    @Test
    void loadsWrittenTinyLlamaWithTiedOutput() throws IOException {
        Model m = ModelLoader.load(tinyLlama("llama", ""));
        assertThat(m.config().headDim()).isEqualTo(16);
        assertThat(m.config().ropeTheta()).isEqualTo(500000f);
        assertThat(m.weights().output()).isSameAs(m.weights().tokenEmbedding());
        assertThat(m.tokenizer().bosId()).isEqualTo(-1);
        assertThat(m.tokenizer().tokenTypes()).containsOnly(TokenizerData.TYPE_NORMAL);
    }

    @Test
    void missingTensorNamesFileAndTensor() throws IOException {
        Path file = tinyLlama("llama", "blk.0.ffn_down.weight");
        assertThatThrownBy(() -> ModelLoader.load(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("'blk.0.ffn_down.weight' is missing");
    }

    @Test
    void unknownArchitectureNamesFileAndArchitecture() throws IOException {
        Path file = tinyLlama("mamba", "");
        assertThatThrownBy(() -> ModelLoader.load(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("'mamba'");
    }
}
