package io.kvstream.runtime;

import io.kvstream.model.Model;
import io.kvstream.runtime.cpu.CpuBackend;
import io.kvstream.runtime.cuda.CudaBackend;
import io.kvstream.runtime.cuda.CudaDevice;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Opens the forward backend a {@link Device} asks for. */
public final class BackendFactory {

    private static final Logger LOG = LoggerFactory.getLogger(BackendFactory.class);

    private BackendFactory() {}

    /**
     * @param threads CPU threads, for the CPU backend
     * @throws IllegalStateException for {@link Device#CUDA} when no CUDA device is usable
     */
    public static ForwardBackend open(Model model, Device device, int threads) {
        switch (device) {
            case CPU:
                return new CpuBackend(model, threads);
            case CUDA:
                CudaDevice.Probe probe = CudaDevice.probe();
                if (!probe.available()) {
                    throw new IllegalStateException("--device cuda: " + probe.description());
                }
                return new CudaBackend(model);
            case AUTO:
                return openAuto(model, threads);
            default:
                throw new IllegalArgumentException("unknown device " + device);
        }
    }

    private static ForwardBackend openAuto(Model model, int threads) {
        CudaDevice.Probe probe = CudaDevice.probe();
        if (!probe.available()) {
            LOG.info("No CUDA device ({}): running on the CPU with {} threads", probe.description(), threads);
            return new CpuBackend(model, threads);
        }
        try {
            return new CudaBackend(model);
        } catch (RuntimeException e) {
            // A device is there but the backend cannot use it (driver too old for the PTX, memory):
            // auto still serves, and says why; --device cuda would fail with the same message.
            LOG.warn("CUDA device {} unusable ({}): running on the CPU with {} threads",
                    probe.description(), e.getMessage(), threads);
            return new CpuBackend(model, threads);
        }
    }
}
