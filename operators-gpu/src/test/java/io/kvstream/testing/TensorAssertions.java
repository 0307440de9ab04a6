package io.kvstream.testing;

import io.kvstream.model.tensor.FloatTensor;

import static org.assertj.core.api.Assertions.assertThat;

/** Element-wise comparisons of weight matrices across file formats. */
public final class TensorAssertions {

    private TensorAssertions() {}

    /**
     * Every element of {@code hf} equals the one of {@code gguf}. With {@code headDim > 0} the GGUF
     * rows are in llama.cpp's order for interleaved RoPE (its converter's {@code permute}: each
     * head's rows reshaped {@code [2, headDim/2]} and transposed), so within each head GGUF row
     * {@code 2i + j} is compared with HF row {@code j * headDim/2 + i}.
     */
    public static void assertSameRows(FloatTensor hf, FloatTensor gguf, int headDim) {
        assertThat(gguf.rows()).as("rows of %s", gguf).isEqualTo(hf.rows());
        assertThat(gguf.cols()).as("cols of %s", gguf).isEqualTo(hf.cols());
        float[] a = new float[hf.cols()];
        float[] b = new float[hf.cols()];
        boolean anyMoved = false;
        for (int r = 0; r < hf.rows(); r++) {
            int g = r;
            if (headDim > 0) {
                int head = r / headDim;
                int within = r % headDim;
                int j = within / (headDim / 2);
                int i = within % (headDim / 2);
                g = head * headDim + 2 * i + j;
                anyMoved |= g != r;
            }
            hf.dequantizeRow(r, a, 0);
            gguf.dequantizeRow(g, b, 0);
            // AssertJ per row is slow on big matrices: only build its message on a mismatch.
            if (!java.util.Arrays.equals(a, b)) {
                assertThat(a)
                        .as("%s row %d vs %s row %d", hf.name(), r, gguf.name(), g)
                        .containsExactly(b);
            }
        }
        assertThat(anyMoved).isEqualTo(headDim > 0);
    }
}
