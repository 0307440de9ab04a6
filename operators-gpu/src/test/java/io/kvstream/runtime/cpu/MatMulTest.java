package io.kvstream.runtime.cpu;

import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.gguf.GgufTensorInfo;
import io.kvstream.model.tensor.Activations;
import io.kvstream.model.tensor.F32Tensor;
import io.kvstream.model.tensor.Float16;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.model.tensor.Tensors;
import io.kvstream.runtime.Parallel;
import io.kvstream.testing.RefModel;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every matrix format through {@link MatMul}: a token's outputs are the same bits whether it is
 * multiplied alone or with others, and equal a reference over {@link FloatTensor#dequantizeRow}
 * of the mapped file: {@link VectorMath#dot} for the mapped tensors, which take dot products
 * along the row, and the plain sequential sum for the CPU's heap copies of Q8_0 and Q4_0 ({@link
 * Tensors#interleaved}), which compute a row per vector lane. This is what keeps a sequence's
 * logits independent of its batch.
 */
class MatMulTest {

    /**
     * Decode-sized steps (fused: a partial group of eight tokens, then a whole group and a
     * partial one) and a prefill-sized one (packed, partial groups).
     */
    private static final int SMALL = 7;
    private static final int MID = 13;
    private static final int TOKENS = 37;
    /**
     * A step longer than one pass of the packed multiplies (two passes, a last group of eight
     * tokens in the fp32 one): token {@code t} repeats token {@code t % TOKENS}.
     */
    private static final int LONG = 404;

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "refmodel-f16.gguf",
        "refmodel-q8_0.gguf",
        "llamacpp/refmodel-q4_0.gguf",
        "llamacpp/refmodel-q4_k_m.gguf",
        "llamacpp/refmodel-q6_k.gguf",
    })
    void aTokensResultDoesNotDependOnItsBatch(String file) throws Exception {
        Set<GgmlType> seen = EnumSet.noneOf(GgmlType.class);
        Set<GgmlType> interleaved = EnumSet.noneOf(GgmlType.class);
        Set<GgmlType> quantizing = EnumSet.noneOf(GgmlType.class);
        Random random = new Random(11);
        try (GgufFile gguf = GgufFile.open(RefModel.file(file)); Parallel parallel = new Parallel(2)) {
            MatMul matMul = new MatMul(parallel);
            for (GgufTensorInfo info : gguf.tensorInfos().values()) {
                if (info.dims().length != 2) {
                    continue;
                }
                FloatTensor w = gguf.tensor(info.name());
                if (!seen.add(w.type()) && !info.name().equals("blk.0.ffn_down.weight")) {
                    continue;
                }
                assertBatchIndependent(matMul, w, fp32(w, w), random);
                FloatTensor copy = Tensors.interleaved(w, Activations.F32);
                if (copy != w) {
                    assertBatchIndependent(matMul, copy, fp32(copy, w), random);
                    interleaved.add(w.type());
                }
                FloatTensor q8 = Tensors.interleaved(w, Activations.Q8_0);
                if (q8.quantizesActivations()) {
                    ByteBuffer raw = bytes(gguf, info);
                    assertBatchIndependent(matMul, q8, (r, x, xo) -> q4_0TimesQ8_0(raw, r, w.cols(), x, xo), random);
                    quantizing.add(w.type());
                }
            }
        }
        assertThat(seen).as("formats in %s", file).isNotEmpty();
        if (VectorMath.F.length() == 16) { // the kernels' width: AVX-512 machines, such as CI's
            Set<GgmlType> copyable = EnumSet.of(GgmlType.Q8_0, GgmlType.Q4_0);
            copyable.retainAll(seen);
            assertThat(interleaved).as("formats the CPU copies onto the heap").isEqualTo(copyable);
            assertThat(quantizing).as("formats whose copies quantize activations")
                    .isEqualTo(seen.contains(GgmlType.Q4_0) ? EnumSet.of(GgmlType.Q4_0) : EnumSet.noneOf(GgmlType.class));
        }
    }

    /**
     * {@link MatMul#sameActivationsNext}: promised, a multiply gives the bits of a fresh one over
     * the same activations; not promised, it reads what the caller wrote into the same array
     * since, not the tokens packed (fp32 heap copies) or quantized (Q4_0 copies that quantize
     * activations) for the previous call; promised but handed another array, it packs that one;
     * promised after a multiply of another format (the mapped tensor, which neither packs nor
     * quantizes) that took values written since, it does not meet the older tokens. A step of two
     * passes (LONG) must not reuse either: its threads hold the second pass's tokens.
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
        "refmodel-q8_0.gguf, F32",
        "llamacpp/refmodel-q4_0.gguf, Q8_0",
    })
    void packedTokensAreReusedOnlyWhenPromised(String file, Activations activations) throws Exception {
        Random random = new Random(5);
        try (GgufFile gguf = GgufFile.open(RefModel.file(file)); Parallel parallel = new Parallel(2)) {
            FloatTensor a = Tensors.interleaved(gguf.tensor("blk.0.attn_q.weight"), activations);
            FloatTensor b = Tensors.interleaved(gguf.tensor("blk.0.attn_k.weight"), activations);
            FloatTensor mapped = gguf.tensor("blk.0.attn_v.weight");
            assertThat(b.quantizesActivations()).isEqualTo(activations == Activations.Q8_0);
            assertThat(mapped.hasFusedDot()).isFalse();
            int cols = a.cols();
            MatMul matMul = new MatMul(parallel);
            for (int tokens : new int[] {SMALL, TOKENS, LONG}) {
                float[] x = gaussian(random, new float[tokens * cols]);
                times(matMul, a, x, tokens);
                matMul.sameActivationsNext();
                assertThat(times(matMul, b, x, tokens)).as("promised, %d tokens", tokens)
                        .isEqualTo(times(new MatMul(parallel), b, x, tokens));
                gaussian(random, x);
                assertThat(times(matMul, b, x, tokens)).as("new values, not promised, %d tokens", tokens)
                        .isEqualTo(times(new MatMul(parallel), b, x, tokens));
                float[] y = gaussian(random, new float[x.length]);
                matMul.sameActivationsNext();
                assertThat(times(matMul, b, y, tokens)).as("another array, %d tokens", tokens)
                        .isEqualTo(times(new MatMul(parallel), b, y, tokens));
                gaussian(random, y);
                times(matMul, mapped, y, tokens);
                matMul.sameActivationsNext();
                assertThat(times(matMul, b, y, tokens)).as("after another format, %d tokens", tokens)
                        .isEqualTo(times(new MatMul(parallel), b, y, tokens));
            }
        }
    }

    private static float[] times(MatMul matMul, FloatTensor w, float[] x, int tokens) {
        float[] out = new float[tokens * w.rows()];
        matMul.multiply(w, x, w.cols(), tokens, out, w.rows());
        return out;
    }

    /** {@code x} filled with standard normal values, in order; returns it. */
    private static float[] gaussian(Random random, float[] x) {
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
    }

    /** Row {@code r} of a matrix against the token at {@code x[xo ..]}: the bits a multiply must give. */
    @FunctionalInterface
    interface Reference {
        float dot(int r, float[] x, int xo);
    }

    /**
     * The fp32 reference for {@code w} over {@code mapped}'s expanded rows: {@link
     * VectorMath#dot} where {@code w} takes dot products along the row, the plain sequential sum
     * where it computes a row per vector lane (the fused heap copies).
     */
    private static Reference fp32(FloatTensor w, FloatTensor mapped) {
        float[] row = new float[mapped.cols()];
        return (r, x, xo) -> {
            mapped.dequantizeRow(r, row, 0);
            return w.hasFusedDot() ? sequentialSum(row, x, xo, row.length) : VectorMath.dot(row, 0, x, xo, row.length);
        };
    }

    /**
     * Q4_0 row {@code r} (raw GGUF blocks in {@code raw}) against a token quantized to Q8_0 as
     * llama.cpp's x86 code quantizes it: per block, {@code q = rint(x * 127 / max|x|)}, the scale
     * {@code max|x| / 127} rounded to fp16, the integer sum of {@code (nibble - 8) * q}, and
     * {@code acc = fma(sum, d * dx, acc)} block after block.
     */
    static float q4_0TimesQ8_0(ByteBuffer raw, int r, int cols, float[] x, int xo) {
        int blocks = cols / 32;
        float acc = 0f;
        for (int b = 0; b < blocks; b++) {
            int pos = (r * blocks + b) * 18;
            int c = xo + b * 32;
            float max = 0f;
            for (int j = 0; j < 32; j++) {
                max = Math.max(max, Math.abs(x[c + j]));
            }
            float id = max != 0f ? 127f / max : 0f;
            float dx = Float16.toFloat(Float16.fromFloat(max / 127f));
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                int nibbles = raw.get(pos + 2 + j) & 0xFF;
                sum += ((nibbles & 0x0F) - 8) * (int) Math.rint(x[c + j] * id);
                sum += ((nibbles >>> 4) - 8) * (int) Math.rint(x[c + 16 + j] * id);
            }
            acc = Math.fma((float) sum, Float16.toFloat(raw.getShort(pos)) * dx, acc);
        }
        return acc;
    }

    /** A tensor's bytes as the file holds them, little-endian. */
    private static ByteBuffer bytes(GgufFile gguf, GgufTensorInfo info) throws IOException {
        try (FileChannel channel = FileChannel.open(gguf.path(), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate((int) info.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
            channel.read(b, info.offset());
            return b.flip();
        }
    }

    /**
     * {@code w} (the form multiplied) gives every token, alone or in steps of {@link #SMALL},
     * {@link #MID}, {@link #TOKENS} and {@link #LONG}, the bits of {@code reference}.
     */
    private static void assertBatchIndependent(MatMul matMul, FloatTensor w, Reference reference, Random random) {
        int cols = w.cols();
        int rows = w.rows();
        float[] x = gaussian(random, new float[TOKENS * cols]);
        // A block of zeros (no scale to divide by) and one with an outlier (the others round to
        // few levels), for the formats that quantize tokens.
        Arrays.fill(x, 0, 32, 0f);
        x[cols + 5] = 1e4f;
        float[] together = new float[TOKENS * rows];
        matMul.multiply(w, x, cols, TOKENS, together, rows);
        float[] small = new float[SMALL * rows];
        matMul.multiply(w, x, cols, SMALL, small, rows);
        float[] mid = new float[MID * rows];
        matMul.multiply(w, x, cols, MID, mid, rows);
        float[] xLong = new float[LONG * cols];
        for (int t = 0; t < LONG; t++) {
            System.arraycopy(x, t % TOKENS * cols, xLong, t * cols, cols);
        }
        float[] longStep = new float[LONG * rows];
        matMul.multiply(w, xLong, cols, LONG, longStep, rows);
        float[] alone = new float[rows];
        float[] xt = new float[cols];
        for (int t = 0; t < TOKENS; t++) {
            System.arraycopy(x, t * cols, xt, 0, cols);
            matMul.multiply(w, xt, cols, 1, alone, rows);
            for (int r = 0; r < rows; r++) {
                float expected = reference.dot(r, x, t * cols);
                assertThat(alone[r]).as("%s row %d token %d alone", w, r, t).isEqualTo(expected);
                assertThat(together[t * rows + r]).as("%s row %d token %d of %d", w, r, t, TOKENS)
                        .isEqualTo(expected);
                if (t < SMALL) {
                    assertThat(small[t * rows + r]).as("%s row %d token %d of %d", w, r, t, SMALL)
                            .isEqualTo(expected);
                }
                if (t < MID) {
                    assertThat(mid[t * rows + r]).as("%s row %d token %d of %d", w, r, t, MID)
                            .isEqualTo(expected);
                }
                for (int u = t; u < LONG; u += TOKENS) {
                    assertThat(longStep[u * rows + r]).as("%s row %d token %d of %d", w, r, u, LONG)
                            .isEqualTo(expected);
                }
            }
        }
    }

    /** The order the fused dot products keep: {@code fma} over the columns in turn, from zero. */
    static float sequentialSum(float[] row, float[] x, int xo, int cols) {
        float acc = 0f;
        for (int k = 0; k < cols; k++) {
            acc = Math.fma(row[k], x[xo + k], acc);
        }
        return acc;
    }

    /**
     * The CPU's heap copies of Q8_0 and Q4_0 matrices whose last group of rows is partial,
     * and steps that fill no whole group of tokens: every output has the mapped tensor's
     * reference bits, and a step's rows are split across threads at group boundaries. 300 rows
     * split into chunks of 64, which the single-token kernel takes two groups at a time.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"Q8_0", "Q4_0"})
    void interleavedCopiesOfPartialGroupsGiveTheReferenceBits(GgmlType type) throws Exception {
        Random random = new Random(17);
        try (Parallel parallel = new Parallel(2)) {
            MatMul matMul = new MatMul(parallel);
            for (int[] shape : new int[][] {{1, 32}, {5, 64}, {37, 96}, {203, 2048}, {300, 160}}) {
                ByteBuffer raw = randomBlocks(type, shape[0], shape[1], random);
                FloatTensor mapped = Tensors.wrap("random", type, shape[0], shape[1], raw);
                FloatTensor copy = Tensors.interleaved(mapped, Activations.F32);
                if (copy == mapped) {
                    return; // this machine's vectors do not suit the kernels
                }
                assertBatchIndependent(matMul, copy, fp32(copy, mapped), random);
                FloatTensor q8 = Tensors.interleaved(mapped, Activations.Q8_0);
                if (q8.quantizesActivations()) {
                    assertBatchIndependent(matMul, q8, (r, x, xo) -> q4_0TimesQ8_0(raw, r, shape[1], x, xo), random);
                }
            }
        }
    }

    /** The bytes of a {@code rows x cols} tensor of random blocks with scales of varied magnitude and sign. */
    static ByteBuffer randomBlocks(GgmlType type, int rows, int cols, Random random) {
        int quantBytes = type == GgmlType.Q8_0 ? 32 : 16;
        int blocks = rows * cols / 32;
        ByteBuffer bytes = ByteBuffer.allocate(blocks * (2 + quantBytes)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] q = new byte[quantBytes];
        for (int b = 0; b < blocks; b++) {
            double sign = random.nextBoolean() ? 1 : -1;
            bytes.putShort(Float16.fromFloat((float) (sign * Math.scalb(random.nextDouble() + 0.5, -random.nextInt(12)))));
            random.nextBytes(q);
            bytes.put(q);
        }
        return bytes.flip();
    }

    /**
     * Shapes the packed multiply pads: rows that fill no whole panel or chunk, token counts that
     * fill no whole group or leave one token in the last, and rows of a width it leaves to the
     * row-by-row kernels (not whole vectors). Every output is compared with the reference.
     */
    @Test
    void paddedPanelsAndTokenGroupsGiveTheReferenceBits() throws Exception {
        Random random = new Random(5);
        try (Parallel parallel = new Parallel(2)) {
            MatMul matMul = new MatMul(parallel);
            for (int[] shape : new int[][] {{37, 48}, {8, 512}, {45, 1040}, {37, 40}}) {
                int rows = shape[0];
                int cols = shape[1];
                ByteBuffer bytes = ByteBuffer.allocate(rows * cols * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < rows * cols; i++) {
                    bytes.putFloat(i * Float.BYTES, (float) random.nextGaussian());
                }
                FloatTensor w = new F32Tensor("w", rows, cols, bytes);
                for (int tokens : new int[] {1, 17, 19, 40, 73}) {
                    float[] x = gaussian(random, new float[tokens * cols]);
                    float[] out = new float[tokens * rows];
                    matMul.multiply(w, x, cols, tokens, out, rows);
                    float[] row = new float[cols];
                    for (int r = 0; r < rows; r++) {
                        w.dequantizeRow(r, row, 0);
                        for (int t = 0; t < tokens; t++) {
                            assertThat(out[t * rows + r]).as("%dx%d row %d token %d of %d", rows, cols, r, t, tokens)
                                    .isEqualTo(VectorMath.dot(row, 0, x, t * cols, cols));
                        }
                    }
                }
            }
        }
    }
}
