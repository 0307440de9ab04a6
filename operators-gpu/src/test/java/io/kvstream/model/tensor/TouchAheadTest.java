package io.kvstream.model.tensor;

import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.gguf.GgufTensorInfo;
import io.kvstream.testing.RefModel;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@link TouchAhead} on the reference model's Q8_0 matrices, copied as the CPU backend copies them. */
class TouchAheadTest {

    private static final List<FloatTensor> MATRICES = new ArrayList<>();

    @BeforeAll
    static void copyMatrices() throws IOException {
        try (GgufFile q8 = GgufFile.open(RefModel.file("refmodel-q8_0.gguf"))) {
            for (GgufTensorInfo info : q8.tensorInfos().values()) {
                FloatTensor t = q8.tensor(info.name());
                if (info.dims().length == 2 && t.type() == GgmlType.Q8_0) {
                    MATRICES.add(Tensors.interleaved(t, Activations.Q8_0));
                }
            }
        }
        assertThat(MATRICES).isNotEmpty();
    }

    @AfterEach
    void restoreDefault() {
        TouchAhead.enabled = true;
    }

    @Test
    void onAndOffAreTakenAsTheySayWithoutTiming() {
        TouchAhead.Decision off = TouchAhead.decide(MATRICES, "OFF", 0);
        assertThat(off.on()).isFalse();
        assertThat(TouchAhead.enabled).isFalse();
        assertThat(off.msTouching()).isNaN();
        TouchAhead.Decision on = TouchAhead.decide(MATRICES, "on", 0);
        assertThat(on.on()).isTrue();
        assertThat(TouchAhead.enabled).isTrue();
        assertThat(on.why()).isEqualTo("-Dkvstream.cpu.touch=on");
    }

    @Test
    void anyOtherSettingIsRefusedByName() {
        assertThatThrownBy(() -> TouchAhead.decide(MATRICES, "sometimes", 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("-Dkvstream.cpu.touch must be auto, on or off, not 'sometimes'");
    }

    @Test
    void autoKeepsTouchingWhereNoMatrixIsLargerThanTheCaches() {
        TouchAhead.Decision d = TouchAhead.decide(MATRICES, "auto", TouchAhead.MIN_BYTES);
        assertThat(d.on()).isTrue();
        assertThat(d.msNot()).isNaN();
        assertThat(d.why()).contains("larger than the caches");
    }

    @Test
    void autoTimesBothWaysAndKeepsTheFaster() {
        TouchAhead.enabled = false;
        TouchAhead.Decision d = TouchAhead.decide(MATRICES, "auto", 0);
        assertThat(d.msTouching()).isPositive().isFinite();
        assertThat(d.msNot()).isPositive().isFinite();
        assertThat(d.on()).isEqualTo(d.msTouching() < d.msNot());
        assertThat(TouchAhead.enabled).isEqualTo(d.on());
        assertThat(d.why()).contains("ms touching ahead").contains("ms not");
    }

    @Test
    void touchingChangesNoResult() {
        for (FloatTensor m : MATRICES) {
            int tokens = 2 * InterleavedTensor.TOKENS + 3;
            float[] x = new float[tokens * m.cols()];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) Math.sin(i * 0.37);
            }
            float[] touching = new float[tokens * m.rows()];
            float[] not = new float[tokens * m.rows()];
            TouchAhead.enabled = true;
            m.dotRows(0, m.rows(), x, m.cols(), tokens, touching, m.rows());
            TouchAhead.enabled = false;
            m.dotRows(0, m.rows(), x, m.cols(), tokens, not, m.rows());
            assertThat(Arrays.equals(touching, not)).as(m.name()).isTrue();
        }
    }
}
