package io.kvstream.runtime.cuda;

import jcuda.driver.CUdeviceptr;

import javax.annotation.Nullable;

/**
 * Step-sized device memory: reallocated (contents dropped) when a step needs more than it has,
 * kept otherwise, so a steady decode loop allocates nothing on the device.
 */
final class GrowingBuffer implements AutoCloseable {

    @Nullable private DeviceBuffer buffer;

    /** A buffer of at least {@code bytes}. */
    DeviceBuffer ensure(long bytes) {
        if (buffer == null || buffer.bytes() < bytes) {
            long size = buffer == null ? bytes : Math.max(bytes, buffer.bytes() * 2);
            close();
            buffer = new DeviceBuffer(size);
        }
        return buffer;
    }

    /** The current buffer; call {@link #ensure} first in the step. */
    CUdeviceptr ptr() {
        if (buffer == null) {
            throw new IllegalStateException("buffer used before ensure");
        }
        return buffer.ptr();
    }

    @Override
    public void close() {
        if (buffer != null) {
            buffer.close();
            buffer = null;
        }
    }
}
