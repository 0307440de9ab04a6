package io.kvstream.runtime.cpu;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import jdk.incubator.vector.FloatVector;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** Attention's weighted sum of value rows against adding the rows one at a time. */
class VectorMathTest {

    private static final int LANES = VectorMath.F.length();

    /** Adds row {@code j} to {@code y}: {@code fma} over whole vectors, multiply then add after. */
    private static void addRow(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int i = 0;
        FloatVector va = FloatVector.broadcast(VectorMath.F, alpha);
        for (; i + LANES <= n; i += LANES) {
            FloatVector.fromArray(VectorMath.F, x, xo + i)
                    .fma(va, FloatVector.fromArray(VectorMath.F, y, yo + i))
                    .intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            y[yo + i] += alpha * x[xo + i];
        }
    }

    @ParameterizedTest
    // Four-vector stretches only, one and several; single vectors after them; scalar tails.
    @ValueSource(ints = {64, 128, 80, 16, 72, 5, 0})
    void axpyRowsHasTheBitsOfAddingOneRowAtATime(int dim) {
        Random random = new Random(dim);
        int rows = 173;
        int stride = dim + 3;
        float[] w = new float[rows + 2];
        float[] x = new float[rows * stride + 1];
        for (int i = 0; i < w.length; i++) {
            w[i] = random.nextFloat();
        }
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        float[] start = new float[dim + 7];
        for (int i = 0; i < start.length; i++) {
            start[i] = (float) random.nextGaussian();
        }
        for (int n : new int[] {0, 1, rows}) {
            float[] expected = start.clone();
            for (int j = 0; j < n; j++) {
                addRow(w[2 + j], x, 1 + j * stride, expected, 7, dim);
            }
            float[] actual = start.clone();
            VectorMath.axpyRows(w, 2, n, x, 1, stride, actual, 7, dim);
            for (int d = 0; d < actual.length; d++) {
                assertThat(Float.floatToRawIntBits(actual[d]))
                        .as("dim %d, %d rows, element %d", dim, n, d)
                        .isEqualTo(Float.floatToRawIntBits(expected[d]));
            }
        }
    }
}
