package io.kvstream.runtime.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

import java.util.HashMap;
import java.util.Map;

/**
 * The PTX modules loaded into the current context ({@code cuModuleLoadData}: the driver compiles
 * them for the device it has) and a handle on every {@link Kernel}.
 */
final class CudaKernels implements AutoCloseable {

    private final Map<String, CUmodule> modules = new HashMap<>();
    private final CUfunction[] functions = new CUfunction[Kernel.values().length];

    CudaKernels() {
        for (Kernel k : Kernel.values()) {
            CUmodule module = modules.computeIfAbsent(k.module(), CudaKernels::load);
            CUfunction f = new CUfunction();
            JCudaDriver.cuModuleGetFunction(f, module, k.entry());
            functions[k.ordinal()] = f;
        }
    }

    private static CUmodule load(String name) {
        CUmodule module = new CUmodule();
        String ptx = Ptx.text(name);
        try {
            JCudaDriver.cuModuleLoadData(module, Ptx.image(ptx));
        } catch (jcuda.CudaException e) {
            // The usual cause: PTX from a newer nvcc than the driver knows (nvcc 13 writes ISA 9.0).
            int[] driver = new int[1];
            JCudaDriver.cuDriverGetVersion(driver);
            throw new IllegalStateException(String.format(
                    "the driver (CUDA %d.%d) cannot load %s.ptx: %s; PTX made by a newer nvcc needs a newer"
                            + " driver, or rebuild the PTX with this driver's nvcc (-Dkvstream.nvcc=PATH"
                            + " -Dkvstream.ptx.force=true)",
                    driver[0] / 1000, driver[0] % 1000 / 10, name, e.getMessage()), e);
        }
        return module;
    }

    /**
     * Launches {@code kernel} on the default stream, {@code block} threads per block.
     *
     * @param params what {@link Pointer#to(jcuda.NativePointerObject...)} makes of the arguments
     */
    void launch(Kernel kernel, int gridX, int gridY, int gridZ, int block, int sharedBytes, Pointer params) {
        int rc = JCudaDriver.cuLaunchKernel(
                functions[kernel.ordinal()], gridX, gridY, gridZ, block, 1, 1, sharedBytes, null, params, null);
        if (rc != CUresult.CUDA_SUCCESS) {
            throw new IllegalStateException("launching " + kernel.entry() + ": " + CUresult.stringFor(rc));
        }
    }

    @Override
    public void close() {
        for (CUmodule m : modules.values()) {
            JCudaDriver.cuModuleUnload(m);
        }
        modules.clear();
    }
}
