package io.kvstream.model.tensor;

import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.gguf.GgufTensorInfo;
import io.kvstream.testing.RefModel;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.util.EnumMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Dequantizes the files llama.cpp's {@code llama-quantize} made from the reference model and
 * compares every matrix with the F16 original. A wrong bit layout puts the error near 100% of the
 * row RMS, so the per-format bounds catch it; the vector paths must also equal the scalar ones
 * bit for bit, and so must the CPU's interleaved heap copies.
 */
class QuantizedTensorTest {

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "refmodel-q8_0.gguf",
        "llamacpp/refmodel-q4_0.gguf",
        "llamacpp/refmodel-q4_k_m.gguf",
        "llamacpp/refmodel-q6_k.gguf",
    })
    void rowsMatchF16WithinFormatError(String file) throws IOException {
        // Measured worst cases (over all 58 matrices) are Q8_0 0.7%, Q6_K 2.2%, Q4_K 7.3% and
        // Q4_0 10.6% (ffn_down, whose trained weights have heavy tails): Q6_K's steps are about
        // 3x coarser than Q8_0's and Q4_K's 4x coarser than Q6_K's, as the bit widths predict.
        Map<GgmlType, Double> bounds = new EnumMap<>(GgmlType.class);
        bounds.put(GgmlType.Q8_0, 0.01);
        bounds.put(GgmlType.Q6_K, 0.03);
        bounds.put(GgmlType.Q4_K, 0.09);
        bounds.put(GgmlType.Q4_0, 0.12);
        Map<GgmlType, double[]> worst = new EnumMap<>(GgmlType.class);
        try (GgufFile f16 = GgufFile.open(RefModel.file("refmodel-f16.gguf"));
                GgufFile q = GgufFile.open(RefModel.file(file))) {
            int matrices = 0;
            for (GgufTensorInfo info : f16.tensorInfos().values()) {
                if (info.dims().length != 2) {
                    continue;
                }
                FloatTensor ref = f16.tensor(info.name());
                FloatTensor quant = q.tensor(info.name(), ref.rows(), ref.cols());
                assertThat(bounds).containsKey(quant.type());
                double rel = relativeRmsError(ref, quant);
                double[] w = worst.computeIfAbsent(quant.type(), t -> new double[1]);
                w[0] = Math.max(w[0], rel);
                assertThat(rel)
                        .as("%s %s relative RMS error", file, quant)
                        .isLessThan(bounds.get(quant.type()));
                assertVectorEqualsScalar(quant);
                assertInterleavedEqualsMapped(quant);
                matrices++;
            }
            assertThat(matrices).isEqualTo(58);
        }
        StringBuilder sb = new StringBuilder(file).append(": worst relative RMS error per type:");
        worst.forEach((t, w) -> sb.append(String.format(" %s %.4f", t, w[0])));
        System.out.println(sb);
    }

    /** Error RMS over the whole matrix divided by the F16 matrix's RMS. */
    private static double relativeRmsError(FloatTensor ref, FloatTensor quant) {
        float[] x = new float[ref.cols()];
        float[] y = new float[ref.cols()];
        double err2 = 0;
        double sum2 = 0;
        for (int r = 0; r < ref.rows(); r++) {
            ref.dequantizeRow(r, x, 0);
            quant.dequantizeRow(r, y, 0);
            for (int c = 0; c < x.length; c++) {
                double e = (double) x[c] - y[c];
                err2 += e * e;
                sum2 += (double) x[c] * x[c];
            }
        }
        return Math.sqrt(err2 / sum2);
    }

    /** The CPU's heap copy (rows interleaved) expands every row to the mapped tensor's bits. */
    static void assertInterleavedEqualsMapped(FloatTensor mapped) {
        FloatTensor copy = Tensors.interleaved(mapped, Activations.Q8_0);
        if (copy == mapped) {
            return;
        }
        assertThat(copy.type()).isEqualTo(mapped.type());
        float[] c = new float[mapped.cols() + 3];
        float[] m = new float[mapped.cols() + 3];
        for (int r = 0; r < mapped.rows(); r++) {
            copy.dequantizeRow(r, c, 3);
            mapped.dequantizeRow(r, m, 3);
            assertSameBits(mapped, r, "interleaved", c, "mapped", m);
        }
    }

    static void assertVectorEqualsScalar(FloatTensor t) {
        if (!Simd.ENABLED) {
            return;
        }
        float[] v = new float[t.cols() + 3];
        float[] s = new float[t.cols() + 3];
        for (int r = 0; r < t.rows(); r++) {
            // An odd offset checks that neither path assumes an aligned destination.
            switch (t.type()) {
                case Q8_0:
                    ((Q8_0Tensor) t).dequantizeRowVector(r, v, 3);
                    ((Q8_0Tensor) t).dequantizeRowScalar(r, s, 3);
                    break;
                case Q4_0:
                    ((Q4_0Tensor) t).dequantizeRowVector(r, v, 3);
                    ((Q4_0Tensor) t).dequantizeRowScalar(r, s, 3);
                    break;
                case Q4_K:
                    ((Q4KTensor) t).dequantizeRowVector(r, v, 3);
                    ((Q4KTensor) t).dequantizeRowScalar(r, s, 3);
                    break;
                case Q6_K:
                    ((Q6KTensor) t).dequantizeRowVector(r, v, 3);
                    ((Q6KTensor) t).dequantizeRowScalar(r, s, 3);
                    break;
                default:
                    return;
            }
            assertSameBits(t, r, "vector", v, "scalar", s);
        }
    }

    /** Row {@code r} of {@code t} expanded two ways, from offset 3 on, must agree bit for bit. */
    private static void assertSameBits(FloatTensor t, int r, String aName, float[] a, String bName, float[] b) {
        for (int c = 3; c < a.length; c++) {
            if (Float.floatToRawIntBits(a[c]) != Float.floatToRawIntBits(b[c])) {
                throw new AssertionError(
                        String.format("%s row %d col %d: %s %s, %s %s", t, r, c - 3, aName, a[c], bName, b[c]));
            }
        }
    }
}
