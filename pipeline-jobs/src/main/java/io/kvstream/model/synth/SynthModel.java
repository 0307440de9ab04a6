package io.kvstream.model.synth;

import io.kvstream.model.ModelFormatException;
import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.gguf.GgufValue;
import io.kvstream.model.gguf.GgufValueType;
import io.kvstream.model.gguf.GgufWriter;
import io.kvstream.model.gguf.RowEncoder;
import io.kvstream.model.safetensors.HfConfig;
import io.kvstream.model.safetensors.SafetensorsCheckpoint;
import io.kvstream.model.safetensors.SafetensorsWriter;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.model.tensor.RowSource;
import io.kvstream.model.tensor.Tensors;
import io.kvstream.tokenizer.TokenizerData;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;


import javax.annotation.Nullable;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Writes a random-weight Llama model of a real model's shape, as a GGUF that loads through the
 * normal loader and, on request, as a Hugging Face folder ({@code model.safetensors} + {@code
 * config.json}) computing the same function, for transformers to load.
 *
 * <p>Weights are normal with standard deviation {@value #WEIGHT_STD} and norms are 1, as in a
 * trained model at initialization, so activations stay finite through any depth. Each row is
 * generated from its own seed (model seed, tensor, row), so files are deterministic, rows can be
 * produced in any order (the GGUF's Q/K rows are llama.cpp's RoPE permutation of the Hugging
 * Face rows), and nothing larger than a row is ever held: an 8B model streams to disk in constant
 * memory. The tokenizer is copied from a reference GGUF and padded to the shape's vocabulary with
 * unused tokens {@code <|unused_N|>}.
 */
public final class SynthModel {

    public static final float WEIGHT_STD = 0.02f;

    private static final String ARCH = "llama";

    /** One tensor, with its names in both layouts. */
    private static final class Spec {
        final int id;
        final String gguf;
        final String hf;
        final int rows;
        final int cols;
        final boolean norm;
        /** Heads whose rows llama.cpp permutes for interleaved RoPE; 0 for other tensors. */
        final int ropeHeads;

        Spec(int id, String gguf, String hf, int rows, int cols, boolean norm, int ropeHeads) {
            this.id = id;
            this.gguf = gguf;
            this.hf = hf;
            this.rows = rows;
            this.cols = cols;
            this.norm = norm;
            this.ropeHeads = ropeHeads;
        }
    }

    private final SynthShape shape;
    private final GgmlType matrixType;
    private final long seed;
    private final Map<String, GgufValue> tokenizer;
    private final int bosId;
    private final int eosId;
    @Nullable private final PrintStream progress;
    private final List<Spec> specs = new ArrayList<>();

    /**
     * @param matrixType {@link GgmlType#F16}, {@link GgmlType#Q8_0} or {@link GgmlType#Q4_0} for
     *     the GGUF's matrices
     * @param tokenizerSource a GGUF whose {@code tokenizer.*} metadata is copied and padded
     * @param progress where to report progress, or null for silence
     */
    public SynthModel(
            SynthShape shape,
            GgmlType matrixType,
            long seed,
            Path tokenizerSource,
            @Nullable PrintStream progress)
            throws IOException {
        if (matrixType != GgmlType.F16
                && matrixType != GgmlType.Q8_0
                && matrixType != GgmlType.Q4_0) {
            throw new IllegalArgumentException(
                    "matrices are written as F16, Q8_0 or Q4_0, not " + matrixType);
        }
        this.shape = shape;
        this.matrixType = matrixType;
        this.seed = seed;
        this.progress = progress;
        try (GgufFile source = GgufFile.open(tokenizerSource)) {
            this.tokenizer = paddedTokenizer(source, shape.vocabSize());
            this.bosId = source.getInt("tokenizer.ggml.bos_token_id", -1);
            this.eosId = source.getInt("tokenizer.ggml.eos_token_id", -1);
        }
        defineTensors();
    }

    private void defineTensors() {
        int dim = shape.dim();
        int qDim = shape.heads() * shape.headDim();
        int kvDim = shape.kvHeads() * shape.headDim();
        int hidden = shape.hiddenDim();
        add("token_embd.weight", "model.embed_tokens.weight", shape.vocabSize(), dim, false, 0);
        for (int i = 0; i < shape.layers(); i++) {
            String b = "blk." + i + ".";
            String m = "model.layers." + i + ".";
            add(b + "attn_norm.weight", m + "input_layernorm.weight", 1, dim, true, 0);
            add(b + "attn_q.weight", m + "self_attn.q_proj.weight", qDim, dim, false, shape.heads());
            add(b + "attn_k.weight", m + "self_attn.k_proj.weight", kvDim, dim, false, shape.kvHeads());
            add(b + "attn_v.weight", m + "self_attn.v_proj.weight", kvDim, dim, false, 0);
            add(b + "attn_output.weight", m + "self_attn.o_proj.weight", dim, qDim, false, 0);
            add(b + "ffn_norm.weight", m + "post_attention_layernorm.weight", 1, dim, true, 0);
            add(b + "ffn_gate.weight", m + "mlp.gate_proj.weight", hidden, dim, false, 0);
            add(b + "ffn_up.weight", m + "mlp.up_proj.weight", hidden, dim, false, 0);
            add(b + "ffn_down.weight", m + "mlp.down_proj.weight", dim, hidden, false, 0);
        }
        add("output_norm.weight", "model.norm.weight", 1, dim, true, 0);
        if (!shape.tiedEmbeddings()) {
            add("output.weight", "lm_head.weight", shape.vocabSize(), dim, false, 0);
        }
    }

    private void add(String gguf, String hf, int rows, int cols, boolean norm, int ropeHeads) {
        specs.add(new Spec(specs.size(), gguf, hf, rows, cols, norm, ropeHeads));
    }

    /** Where Llama 3 puts its special tokens, and how many ids it reserves for them. */
    private static final int LLAMA3_SPECIAL_BASE = 128000;

    private static final int LLAMA3_SPECIAL_COUNT = 256;

    /**
     * Llama 3's special token at {@code id} ({@code >= 128000}): other engines that read Llama 3
     * files (llama3.java, for the side-by-side benchmark) find them by these names.
     */
    static String llama3Special(int id) {
        switch (id - LLAMA3_SPECIAL_BASE) {
            case 0:
                return "<|begin_of_text|>";
            case 1:
                return "<|end_of_text|>";
            case 4:
                return "<|finetune_right_pad_id|>";
            case 6:
                return "<|start_header_id|>";
            case 7:
                return "<|end_header_id|>";
            case 8:
                return "<|eom_id|>";
            case 9:
                return "<|eot_id|>";
            case 10:
                return "<|python_tag|>";
            default:
                int n = id - LLAMA3_SPECIAL_BASE;
                return "<|reserved_special_token_" + (n < 4 ? n - 2 : n == 5 ? 2 : n - 8) + "|>";
        }
    }

    /**
     * The source's {@code tokenizer.*} keys, vocabulary padded to {@code vocab} tokens. A
     * vocabulary of Llama 3's size gets Llama 3's special tokens at their ids.
     */
    static Map<String, GgufValue> paddedTokenizer(GgufFile source, int vocab)
            throws IOException {
        List<String> tokens = new ArrayList<>(source.getStringList("tokenizer.ggml.tokens"));
        if (tokens.size() > vocab) {
            throw new ModelFormatException(
                    String.format(
                            "%s: its %d tokens do not fit a vocabulary of %d",
                            source.path(), tokens.size(), vocab));
        }
        int[] types = Arrays.copyOf(source.getIntArray("tokenizer.ggml.token_type"), vocab);
        Set<String> existing = new HashSet<>(tokens);
        boolean llama3 = vocab == LLAMA3_SPECIAL_BASE + LLAMA3_SPECIAL_COUNT;
        for (int i = tokens.size(), n = 0; i < vocab; i++, n++) {
            boolean special = llama3 && i >= LLAMA3_SPECIAL_BASE;
            String t = special ? llama3Special(i) : "<|unused_" + n + "|>";
            if (existing.contains(t)) {
                throw new ModelFormatException(
                        String.format("%s already has a token %s", source.path(), t));
            }
            tokens.add(t);
            types[i] = special ? TokenizerData.TYPE_CONTROL : TokenizerData.TYPE_UNUSED;
        }
        Map<String, GgufValue> out = new LinkedHashMap<>();
        for (Map.Entry<String, GgufValue> e : source.metadata().entrySet()) {
            if (e.getKey().startsWith("tokenizer.")) {
                out.put(e.getKey(), e.getValue());
            }
        }
        out.put(
                "tokenizer.ggml.tokens",
                GgufValue.array(GgufValueType.STRING, tokens.toArray(new String[0])));
        out.put("tokenizer.ggml.token_type", GgufValue.array(GgufValueType.INT32, types));
        return out;
    }

    // -------------------------------------------------------------------------------- values

    /** Row {@code row} of a tensor in Hugging Face order, as the random source defines it. */
    private void hfRow(Spec s, int row, float[] out) {
        if (s.norm) {
            Arrays.fill(out, 0, s.cols, 1f);
            return;
        }
        SplittableRandom rnd = new SplittableRandom(mix(seed, s.id, row));
        for (int c = 0; c < s.cols; c++) {
            out[c] = (float) rnd.nextGaussian() * WEIGHT_STD;
        }
    }

    private static long mix(long seed, int tensor, int row) {
        long z = seed * 0x9E3779B97F4A7C15L + tensor * 0xBF58476D1CE4E5B9L + row;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * The Hugging Face row that llama.cpp stores at GGUF row {@code g}: within each head, GGUF
     * row {@code 2i + j} holds HF row {@code j * headDim/2 + i}.
     */
    static int hfRowOfGgufRow(int g, int headDim) {
        int head = g / headDim;
        int within = g % headDim;
        return head * headDim + (within % 2) * (headDim / 2) + within / 2;
    }

    private RowSource ggufSource(Spec s, Progress p, long rowBytes) {
        int headDim = s.ropeHeads > 0 ? s.rows / s.ropeHeads : 0;
        return (row, out) -> {
            hfRow(s, headDim > 0 ? hfRowOfGgufRow(row, headDim) : row, out);
            p.advance(rowBytes);
        };
    }

    // ------------------------------------------------------------------------------- writing

    /** Writes the GGUF model. */
    public void writeGguf(Path file) throws IOException {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", ARCH);
        w.putString("general.name", "synth-" + shape.name().toLowerCase(java.util.Locale.ROOT));
        w.putUInt32("general.file_type", fileType(matrixType));
        w.putUInt32(ARCH + ".context_length", shape.contextLength());
        w.putUInt32(ARCH + ".embedding_length", shape.dim());
        w.putUInt32(ARCH + ".block_count", shape.layers());
        w.putUInt32(ARCH + ".feed_forward_length", shape.hiddenDim());
        w.putUInt32(ARCH + ".attention.head_count", shape.heads());
        w.putUInt32(ARCH + ".attention.head_count_kv", shape.kvHeads());
        w.putFloat32(ARCH + ".rope.freq_base", shape.ropeTheta());
        w.putUInt32(ARCH + ".rope.dimension_count", shape.headDim());
        w.putFloat32(ARCH + ".attention.layer_norm_rms_epsilon", shape.rmsEps());
        w.putUInt32(ARCH + ".vocab_size", shape.vocabSize());
        w.putAll(tokenizer);

        long total = 0;
        for (Spec s : specs) {
            total += ggufType(s).byteSize((long) s.rows * s.cols);
        }
        Progress p = new Progress(progress, file, total);
        for (Spec s : specs) {
            GgmlType type = ggufType(s);
            RowSource src = ggufSource(s, p, type.byteSize(s.cols));
            if (s.norm) {
                float[] ones = new float[s.cols];
                src.fill(0, ones);
                w.addVector(s.gguf, type, ones);
            } else {
                w.addTensor(s.gguf, type, s.rows, s.cols, src);
            }
        }
        w.write(file);
        p.done();
    }

    /**
     * llama.cpp's {@code LLAMA_FTYPE} for a file whose matrices are all {@code type}: every one,
     * {@code token_embd} included (llama-quantize would make the embedding Q6_K in a Q4_0 file;
     * llama.cpp reads either).
     */
    static int fileType(GgmlType type) {
        switch (type) {
            case F16:
                return 1;
            case Q4_0:
                return 2;
            case Q8_0:
                return 7;
            default:
                throw new IllegalArgumentException("no llama.cpp file type for " + type);
        }
    }

    private GgmlType ggufType(Spec s) {
        return s.norm ? GgmlType.F32 : matrixType;
    }

    /**
     * Writes the same model as a Hugging Face folder: {@code model.safetensors} (F16 when the
     * GGUF is F16, bit-identical; F32 holding the dequantized values when it is quantized, so that
     * both compute the same function) and {@code config.json}. The tokenizer is not written.
     */
    public void writeHf(Path folder) throws IOException {
        Files.createDirectories(folder);
        GgmlType type = matrixType == GgmlType.F16 ? GgmlType.F16 : GgmlType.F32;
        long total = 0;
        for (Spec s : specs) {
            total += (s.norm ? GgmlType.F32 : type).byteSize((long) s.rows * s.cols);
        }
        Path file = folder.resolve(SafetensorsCheckpoint.SINGLE);
        Progress p = new Progress(progress, file, total);
        SafetensorsWriter w = new SafetensorsWriter();
        for (Spec s : specs) {
            if (s.norm) {
                float[] ones = new float[s.cols];
                hfRow(s, 0, ones);
                w.addVector(s.hf, GgmlType.F32, ones);
                continue;
            }
            long rowBytes = type.byteSize(s.cols);
            RowSource src;
            if (matrixType != GgmlType.F16) {
                ByteBuffer q = ByteBuffer.allocate((int) matrixType.byteSize(s.cols));
                q.order(ByteOrder.LITTLE_ENDIAN);
                src =
                        (row, out) -> {
                            hfRow(s, row, out);
                            q.clear();
                            RowEncoder.encodeRow(matrixType, out, q);
                            q.flip();
                            Tensors.wrap(s.hf, matrixType, 1, s.cols, q)
                                    .dequantizeRow(0, out, 0);
                            p.advance(rowBytes);
                        };
            } else {
                src =
                        (row, out) -> {
                            hfRow(s, row, out);
                            p.advance(rowBytes);
                        };
            }
            w.addTensor(s.hf, type, s.rows, s.cols, src);
        }
        w.write(file);
        p.done();
        Files.write(folder.resolve(HfConfig.FILE_NAME), hfConfigJson(type));
    }

    private byte[] hfConfigJson(GgmlType type) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = json.createObjectNode();
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("model_type", ARCH);
        c.put("hidden_size", shape.dim());
        c.put("intermediate_size", shape.hiddenDim());
        c.put("num_hidden_layers", shape.layers());
        c.put("num_attention_heads", shape.heads());
        c.put("num_key_value_heads", shape.kvHeads());
        c.put("head_dim", shape.headDim());
        c.put("vocab_size", shape.vocabSize());
        c.put("max_position_embeddings", shape.contextLength());
        c.put("rms_norm_eps", (double) shape.rmsEps());
        // transformers 4 reads the top-level key, transformers 5 rope_parameters.
        c.put("rope_theta", (double) shape.ropeTheta());
        ObjectNode rope = c.putObject("rope_parameters");
        rope.put("rope_theta", (double) shape.ropeTheta());
        rope.put("rope_type", "default");
        c.put("tie_word_embeddings", shape.tiedEmbeddings());
        c.put("hidden_act", "silu");
        c.put("attention_bias", false);
        c.put("mlp_bias", false);
        c.put("bos_token_id", bosId);
        c.put("eos_token_id", eosId);
        c.put("torch_dtype", type == GgmlType.F16 ? "float16" : "float32");
        return json.writerWithDefaultPrettyPrinter().writeValueAsBytes(c);
    }

    /** Reports bytes produced on a stream, at most once per percent. */
    private static final class Progress {
        @Nullable private final PrintStream out;
        private final Path file;
        private final long total;
        private final long start = System.nanoTime();
        private long done;
        private int lastPercent = -1;

        Progress(@Nullable PrintStream out, Path file, long total) {
            this.out = out;
            this.file = file;
            this.total = Math.max(1, total);
        }

        void advance(long bytes) {
            done += bytes;
            int percent = (int) (done * 100 / total);
            if (out != null && percent != lastPercent) {
                lastPercent = percent;
                out.printf(
                        "\rsynth: %s %3d%% (%.2f of %.2f GiB)",
                        file.getFileName(), percent, done / 1073741824.0, total / 1073741824.0);
                out.flush();
            }
        }

        void done() {
            if (out != null) {
                out.printf(
                        "%nsynth: wrote %s in %.1f s%n", file, (System.nanoTime() - start) / 1e9);
            }
        }
    }
}
