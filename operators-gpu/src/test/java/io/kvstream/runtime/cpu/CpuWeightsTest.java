package io.kvstream.runtime.cpu;

import io.kvstream.model.LayerWeights;
import io.kvstream.model.Model;
import io.kvstream.model.ModelLoader;
import io.kvstream.model.Weights;
import io.kvstream.model.tensor.Activations;
import io.kvstream.model.tensor.Tensors;
import io.kvstream.testing.RefModel;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Which weights the CPU backend multiplies: heap copies, shared per file, or the mapped file. */
class CpuWeightsTest {

    @AfterEach
    void clearProperty() {
        System.clearProperty(CpuWeights.PROPERTY);
        System.clearProperty(CpuWeights.ACTIVATIONS);
    }

    @Test
    void backendsOverOneFileShareOneHeapCopy() throws Exception {
        Model first = ModelLoader.load(RefModel.file("refmodel-q8_0.gguf"));
        Model second = ModelLoader.load(RefModel.file("refmodel-q8_0.gguf"));
        LayerWeights mapped = first.weights().layers().get(0);
        assumeTrue(Tensors.interleaved(mapped.wq(), Activations.F32) != mapped.wq(), "this machine's vectors do not suit the kernels");

        Weights heap = CpuWeights.of(first);
        LayerWeights copied = heap.layers().get(0);
        assertThat(copied.wq()).isNotSameAs(mapped.wq());
        assertThat(copied.wq().hasFusedDot()).isTrue();
        assertThat(copied.wDown().hasFusedDot()).isTrue();
        assertThat(heap.output().hasFusedDot()).isTrue();
        assertThat(copied.attnNorm()).isEqualTo(mapped.attnNorm());
        // The embedding table serves lookups from the file; it is copied only as a tied output.
        if (first.weights().tokenEmbedding() == first.weights().output()) {
            assertThat(heap.tokenEmbedding()).isSameAs(heap.output());
        } else {
            assertThat(heap.tokenEmbedding().hasFusedDot()).isFalse();
        }
        assertThat(CpuWeights.of(second)).isSameAs(heap);
    }

    /** A copy of the file under a new name: other tests in this JVM may have shared its copy. */
    @Test
    void mappedOnRequestOrWhenTheHeapIsShort(@TempDir Path dir) throws Exception {
        Path file = Files.copy(RefModel.file("refmodel-q8_0.gguf"), dir.resolve("model.gguf"));
        Model model = ModelLoader.load(file);
        LayerWeights mapped = model.weights().layers().get(0);
        assumeTrue(Tensors.interleaved(mapped.wq(), Activations.F32) != mapped.wq(), "this machine's vectors do not suit the kernels");

        assertThat(CpuWeights.of(model, 1024)).isSameAs(model.weights());
        Weights heap = CpuWeights.of(model);
        assertThat(heap).isNotSameAs(model.weights());
        // Changed on disk, the file is another model: its weights are not shared with the old copy.
        Files.setLastModifiedTime(file, FileTime.fromMillis(Files.getLastModifiedTime(file).toMillis() + 5_000));
        assertThat(CpuWeights.of(ModelLoader.load(file))).isNotSameAs(heap);
        System.setProperty(CpuWeights.PROPERTY, "mapped");
        assertThat(CpuWeights.of(model)).isSameAs(model.weights());
        System.setProperty(CpuWeights.PROPERTY, "disk");
        assertThatThrownBy(() -> CpuWeights.of(model))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("heap or mapped, not 'disk'");
    }

    /** Q4_0 copies quantize activations unless told not to; each mode is a copy of its own. */
    @Test
    void q4_0ActivationsFollowTheProperty(@TempDir Path dir) throws Exception {
        Path file = Files.copy(RefModel.file("llamacpp/refmodel-q4_0.gguf"), dir.resolve("q4_0.gguf"));
        Model model = ModelLoader.load(file);
        LayerWeights mapped = model.weights().layers().get(0);
        assumeTrue(Tensors.interleaved(mapped.wq(), Activations.Q8_0).quantizesActivations(),
                "this machine's vectors do not suit the integer kernels");

        Weights quantizing = CpuWeights.of(model);
        assertThat(quantizing.layers().get(0).wq().quantizesActivations()).isTrue();
        System.setProperty(CpuWeights.ACTIVATIONS, "F32");
        Weights fp32 = CpuWeights.of(model);
        assertThat(fp32).isNotSameAs(quantizing);
        assertThat(fp32.layers().get(0).wq().hasFusedDot()).isTrue();
        assertThat(fp32.layers().get(0).wq().quantizesActivations()).isFalse();
        System.setProperty(CpuWeights.ACTIVATIONS, "int8");
        assertThatThrownBy(() -> CpuWeights.of(model))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-Dkvstream.cpu.activations must be f32 or q8_0, not 'int8'");
    }

    @Test
    void formatsWithoutAHeapFormStayMapped() throws Exception {
        Model model = ModelLoader.load(RefModel.file("refmodel-f16.gguf"));
        assertThat(CpuWeights.of(model)).isSameAs(model.weights());
    }
}
