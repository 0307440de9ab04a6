package io.kvstream.model.vision;

import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.testing.RefModel;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class PatchProjectorTest {

    private static byte[] randomFrame(long seed) {
        byte[] rgb = new byte[16 * 16 * 3];
        new SplittableRandom(seed).nextBytes(rgb);
        return rgb;
    }

    @Test
    void ggufAndSafetensorsGiveSameEmbeddings() throws IOException {
        PatchProjector gguf = PatchProjector.load(RefModel.file("refmodel-mmproj-f16.gguf"));
        PatchProjector hf = PatchProjector.load(RefModel.file("refmodel.safetensors"));
        VisionConfig c = gguf.config();
        assertThat(c)
                .isEqualTo(new VisionConfig(16, 4, 3, "<|img|>", "<|frame|>t={index}", 256));
        assertThat(hf.config()).isEqualTo(c);
        assertThat(c.patchesPerFrame()).isEqualTo(16);
        assertThat(c.patchDim()).isEqualTo(48);
        assertThat(c.frameMarker(7)).isEqualTo("<|frame|>t=7");

        byte[] rgb = randomFrame(42);
        float[] a = new float[16 * 256];
        float[] b = new float[16 * 256];
        gguf.project(rgb, a);
        hf.project(rgb, b);
        for (int i = 0; i < a.length; i++) {
            assertThat(a[i]).as("element %d", i).isCloseTo(b[i], within(1e-6f));
        }
        assertThat(a).isNotEqualTo(new float[a.length]);
    }

    @Test
    void patchCoversItsPixelsInYxcOrder() throws IOException {
        PatchProjector proj = PatchProjector.load(RefModel.file("refmodel-mmproj-f16.gguf"));
        byte[] rgb = randomFrame(3);
        // Patch 6 = row 1, column 2 of the 4x4 grid: pixel rows 4..7, columns 8..11.
        float[] x = new float[48];
        proj.patchInputs(rgb, 6, x);
        int i = 0;
        for (int y = 4; y < 8; y++) {
            for (int col = 8; col < 12; col++) {
                for (int ch = 0; ch < 3; ch++) {
                    int v = rgb[(y * 16 + col) * 3 + ch] & 0xFF;
                    assertThat(x[i++]).isEqualTo(v / 255f);
                }
            }
        }

        // W x + b by hand, in double, from the raw GGUF tensors.
        float[] expected = new float[256];
        try (GgufFile g = GgufFile.open(RefModel.file("refmodel-mmproj-f16.gguf"))) {
            FloatTensor w = g.tensor(PatchProjector.GGUF_WEIGHT, 256, 48);
            float[] bias = g.floats(PatchProjector.GGUF_BIAS, 256);
            for (int o = 0; o < 256; o++) {
                double acc = bias[o];
                for (int k = 0; k < 48; k++) {
                    acc += (double) w.get(o, k) * x[k];
                }
                expected[o] = (float) acc;
            }
        }
        float[] all = new float[16 * 256];
        proj.project(rgb, all);
        float[] one = new float[256 + 5];
        proj.projectPatch(rgb, 6, one, 5);
        for (int o = 0; o < 256; o++) {
            assertThat(all[6 * 256 + o]).isCloseTo(expected[o], within(1e-5f));
            assertThat(one[5 + o]).isEqualTo(all[6 * 256 + o]);
        }
    }

    @Test
    void wrongFrameSizeFailsClearly() throws IOException {
        PatchProjector proj = PatchProjector.load(RefModel.file("refmodel-mmproj-f16.gguf"));
        assertThatThrownBy(() -> proj.project(new byte[16 * 16 * 4], new float[16 * 256]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("16x16x3 = 768 bytes, got 1024");
        assertThatThrownBy(() -> proj.project(new byte[768], new float[10]))
                .hasMessageContaining("cannot hold 16 patch embeddings");
    }
}
