package io.kvstream.runtime.cpu;

import com.sun.management.HotSpotDiagnosticMXBean;

import java.lang.management.ManagementFactory;

/**
 * How large an array must be for G1 to allocate it humongous: in regions of its own, starting at a
 * region boundary, never moved by the collector. Kernels that want their vector loads aligned to
 * cache lines keep their scratch space in such an array.
 */
final class HeapRegions {

    private HeapRegions() {}

    /**
     * The smallest float array G1 allocates humongous (more than half a region), or 0 when the
     * collector is not G1 or does not say: such arrays are then as aligned as any.
     */
    static int humongousFloats() {
        try {
            HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            if (vm == null || !Boolean.parseBoolean(vm.getVMOption("UseG1GC").getValue())) {
                return 0;
            }
            long region = Long.parseLong(vm.getVMOption("G1HeapRegionSize").getValue());
            return (int) Math.min(Integer.MAX_VALUE - 8, region / 2 / Float.BYTES + 1);
        } catch (RuntimeException | LinkageError e) {
            // No management module in a trimmed runtime, or an unknown option: alignment is only speed.
            return 0;
        }
    }
}
