package io.kvstream.runtime.cpu;

import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.gguf.GgufTensorInfo;
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

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
                assertBatchIndependent(matMul, w, w, random);
                FloatTensor copy = Tensors.interleaved(w);
                if (copy != w) {
                    assertBatchIndependent(matMul, copy, w, random);
                    interleaved.add(w.type());
                }
            }
        }
        assertThat(seen).as("formats in %s", file).isNotEmpty();
        if (VectorMath.F.length() == 16) { // the kernels' width: AVX-512 machines, such as CI's
            Set<GgmlType> copyable = EnumSet.of(GgmlType.Q8_0, GgmlType.Q4_0);
            copyable.retainAll(seen);
            assertThat(interleaved).as("formats the CPU copies onto the heap").isEqualTo(copyable);
        }
    }

    /**
     * {@code w} (the form multiplied) gives every token, alone or in steps of {@link #SMALL},
     * {@link #MID} and {@link #TOKENS}, the bits of {@code reference}'s rows expanded and then summed in the order
     * {@code w} keeps.
     */
    private static void assertBatchIndependent(MatMul matMul, FloatTensor w, FloatTensor reference, Random random) {
        int cols = w.cols();
        int rows = w.rows();
        float[] x = new float[TOKENS * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        float[] together = new float[TOKENS * rows];
        matMul.multiply(w, x, cols, TOKENS, together, rows);
        float[] small = new float[SMALL * rows];
        matMul.multiply(w, x, cols, SMALL, small, rows);
        float[] mid = new float[MID * rows];
        matMul.multiply(w, x, cols, MID, mid, rows);
        float[] alone = new float[rows];
        float[] row = new float[cols];
        float[] xt = new float[cols];
        for (int t = 0; t < TOKENS; t++) {
            System.arraycopy(x, t * cols, xt, 0, cols);
            matMul.multiply(w, xt, cols, 1, alone, rows);
            for (int r = 0; r < rows; r++) {
                reference.dequantizeRow(r, row, 0);
                float expected = w.hasFusedDot()
                        ? sequentialSum(row, x, t * cols, cols)
                        : VectorMath.dot(row, 0, x, t * cols, cols);
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
                FloatTensor mapped = randomBlocks(type, shape[0], shape[1], random);
                FloatTensor copy = Tensors.interleaved(mapped);
                if (copy == mapped) {
                    return; // this machine's vectors do not suit the kernels
                }
                assertBatchIndependent(matMul, copy, mapped, random);
            }
        }
    }

    /** A {@code rows x cols} tensor of random blocks with scales of varied magnitude. */
    static FloatTensor randomBlocks(GgmlType type, int rows, int cols, Random random) {
        int quantBytes = type == GgmlType.Q8_0 ? 32 : 16;
        int blocks = rows * cols / 32;
        ByteBuffer bytes = ByteBuffer.allocate(blocks * (2 + quantBytes)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] q = new byte[quantBytes];
        for (int b = 0; b < blocks; b++) {
            bytes.putShort(Float16.fromFloat((float) Math.scalb(random.nextDouble() + 0.5, -random.nextInt(12))));
            random.nextBytes(q);
            bytes.put(q);
        }
        bytes.flip();
        return Tensors.wrap("random", type, rows, cols, bytes);
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
                    float[] x = new float[tokens * cols];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (float) random.nextGaussian();
                    }
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
