package io.kvstream.runtime;

import io.kvstream.model.Model;
import io.kvstream.model.ModelLoader;
import io.kvstream.runtime.cpu.CpuBackend;
import io.kvstream.runtime.cuda.CudaBackend;
import io.kvstream.runtime.cuda.CudaDevice;
import io.kvstream.testing.RefModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code --device}: auto picks CUDA only where a device is usable; cuda without one is an error. */
class BackendFactoryTest {

    private static Model model;

    @BeforeAll
    static void load() throws Exception {
        model = ModelLoader.load(RefModel.file("refmodel-q8_0.gguf"));
    }

    @Test
    void theProbeAnswersWithAReasonInsteadOfThrowing() {
        CudaDevice.Probe probe = CudaDevice.probe();
        assertThat(probe.description()).isNotBlank();
        assertThat(CudaDevice.probe()).as("probed once").isSameAs(probe);
    }

    @Test
    void autoRunsOnTheCpuWithoutADevice() {
        assumeFalse(CudaDevice.available(), "this machine has a CUDA device");
        try (ForwardBackend backend = BackendFactory.open(model, Device.AUTO, 1)) {
            assertThat(backend).isInstanceOf(CpuBackend.class);
        }
    }

    @Test
    void cudaWithoutADeviceSaysWhy() {
        assumeFalse(CudaDevice.available(), "this machine has a CUDA device");
        assertThatThrownBy(() -> BackendFactory.open(model, Device.CUDA, 1))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageStartingWith("--device cuda: ")
                .hasMessageContaining(CudaDevice.probe().description());
    }

    @Test
    void autoRunsOnTheDeviceWhereThereIsOne() {
        assumeTrue(CudaDevice.available(), () -> "no CUDA device: " + CudaDevice.probe().description());
        try (ForwardBackend backend = BackendFactory.open(model, Device.AUTO, 1)) {
            assertThat(backend).isInstanceOf(CudaBackend.class);
        }
    }

    @Test
    void cpuIsAlwaysTheCpu() {
        try (ForwardBackend backend = BackendFactory.open(model, Device.CPU, 1)) {
            assertThat(backend).isInstanceOf(CpuBackend.class);
        }
    }

    @Test
    void deviceNamesParseInAnyCase() {
        assertThat(Device.parse("CUDA")).isEqualTo(Device.CUDA);
        assertThat(Device.parse(" auto ")).isEqualTo(Device.AUTO);
        assertThatThrownBy(() -> Device.parse("tpu")).hasMessageContaining("expected cpu, cuda or auto");
    }
}
