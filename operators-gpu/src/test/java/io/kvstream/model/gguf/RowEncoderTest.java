package io.kvstream.model.gguf;

import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.testing.RefModel;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

class RowEncoderTest {

    @TempDir Path tmp;

    /**
     * llama.cpp's {@code llama-quantize} made {@code llamacpp/refmodel-q4_0.gguf} from {@code
     * refmodel-f16.gguf} without an importance matrix: quantizing the same F16 rows here must give
     * its bytes exactly (block layout, nibble order, the scale's sign and rounding).
     */
    @Test
    void q4_0IsByteForByteWhatLlamaQuantizeWrites() throws IOException {
        try (GgufFile f16 = GgufFile.open(RefModel.file("refmodel-f16.gguf"));
                GgufFile q4 = GgufFile.open(RefModel.file("llamacpp/refmodel-q4_0.gguf"))) {
            int compared = 0;
            for (GgufTensorInfo info : q4.tensorInfos().values()) {
                if (info.type() != GgmlType.Q4_0) {
                    continue;
                }
                FloatTensor source = f16.tensor(info.name());
                assertThat(source.type()).isEqualTo(GgmlType.F16);
                ByteBuffer expected = q4.map(info.name()).order(ByteOrder.LITTLE_ENDIAN);
                int rowBytes = (int) GgmlType.Q4_0.byteSize(source.cols());
                float[] row = new float[source.cols()];
                ByteBuffer encoded = ByteBuffer.allocate(rowBytes).order(ByteOrder.LITTLE_ENDIAN);
                for (int r = 0; r < source.rows(); r++) {
                    source.dequantizeRow(r, row, 0);
                    encoded.clear();
                    RowEncoder.encodeRow(GgmlType.Q4_0, row, encoded);
                    encoded.flip();
                    assertThat(encoded)
                            .as("%s row %d", info.name(), r)
                            .isEqualTo(expected.slice(r * rowBytes, rowBytes));
                }
                compared++;
            }
            // Every matrix but output.weight (Q6_K), 8 blocks of 7 plus token_embd.
            assertThat(compared).isEqualTo(57);
        }
    }

    /**
     * A Q4_0 matrix written here and read back through the GGUF reader holds the quantized
     * weights: each value is a whole number of steps {@code d} in [-8, 7], the block's element of
     * largest magnitude is the one that is -8 steps, and every value is within half a step of the
     * original (one step where +8 steps was clipped to 7).
     */
    @Test
    void q4_0RoundTripsThroughTheReaderAsTheQuantizedWeights() throws IOException {
        int rows = 48;
        int cols = 256;
        float[] values = new float[rows * cols];
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian() * (1 + i % 7);
        }
        Path file = tmp.resolve("q4.gguf");
        new GgufWriter().addMatrix("w", GgmlType.Q4_0, rows, cols, values).write(file);
        try (GgufFile g = GgufFile.open(file)) {
            FloatTensor w = g.tensor("w", rows, cols);
            assertThat(w.type()).isEqualTo(GgmlType.Q4_0);
            float[] row = new float[cols];
            for (int r = 0; r < rows; r++) {
                w.dequantizeRow(r, row, 0);
                for (int b = 0; b < cols; b += 32) {
                    int at = r * cols + b;
                    int argmax = at;
                    for (int j = at; j < at + 32; j++) {
                        argmax = Math.abs(values[j]) > Math.abs(values[argmax]) ? j : argmax;
                    }
                    // The scale is max / -8 rounded to fp16: the extreme element comes back as -8 d.
                    float d = row[argmax - r * cols] / -8;
                    assertThat(Math.abs(d)).isCloseTo(Math.abs(values[argmax]) / 8, relative(0x1p-10f));
                    for (int j = 0; j < 32; j++) {
                        float v = values[at + j];
                        float q = row[b + j];
                        float steps = q / d;
                        assertThat(steps).isEqualTo((float) Math.rint(steps)).isBetween(-8f, 7f);
                        float bound = steps == 7f ? Math.abs(d) : Math.abs(d) / 2;
                        // Plus the fp16 rounding of the scale, times up to 8 steps.
                        assertThat(Math.abs(v - q)).isLessThanOrEqualTo(bound * (1 + 0x1p-6f));
                    }
                }
            }
        }
    }

    private static org.assertj.core.data.Percentage relative(float fraction) {
        return org.assertj.core.data.Percentage.withPercentage(100.0 * fraction);
    }
}
