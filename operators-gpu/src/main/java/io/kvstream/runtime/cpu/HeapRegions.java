package io.kvstream.runtime.cpu;

import io.kvstream.runtime.VmOption;

/**
 * How large an array must be for G1 to allocate it humongous: in regions of its own, starting at a
 * region boundary, never moved by the collector. Kernels that want their vector loads aligned to
 * cache lines keep their scratch space in such an array.
 */
final class HeapRegions {

    /**
     * The first 64-byte-aligned element of a float array that starts a region: element 0 sits
     * after a 16-byte header (compressed class pointers, the default), so index 12.
     */
    static final int FIRST_ALIGNED_FLOAT = (64 - 16) / Float.BYTES;

    private HeapRegions() {}

    /**
     * {@code scratch} when it holds {@code size} floats, else a new array with half as much again
     * to grow into, large enough to be humongous, so that it starts a region.
     */
    static float[] alignedScratch(float[] scratch, int size) {
        if (scratch.length >= size) {
            return scratch;
        }
        return new float[Math.max(humongousFloats(), size + size / 2)];
    }

    /**
     * The smallest float array G1 allocates humongous (more than half a region), or 0 when the
     * collector is not G1 or does not say: such arrays are then as aligned as any (alignment is
     * only speed).
     */
    static int humongousFloats() {
        String region = VmOption.value("G1HeapRegionSize");
        if (!VmOption.isOn("UseG1GC") || region == null) {
            return 0;
        }
        return (int) Math.min(Integer.MAX_VALUE - 8, Long.parseLong(region) / 2 / Float.BYTES + 1);
    }
}
