package io.kvstream.runtime.cuda;

import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/**
 * Device memory that frees itself: {@code cuMemAlloc} on creation, {@code cuMemFree} on close.
 * Copies are synchronous (they return when the data has arrived).
 */
final class DeviceBuffer implements AutoCloseable {

    private final CUdeviceptr ptr = new CUdeviceptr();
    private final long bytes;
    private boolean closed;

    DeviceBuffer(long bytes) {
        // A zero-byte allocation fails; kernels still get a valid (unused) pointer.
        this.bytes = Math.max(bytes, 4);
        JCudaDriver.cuMemAlloc(ptr, this.bytes);
    }

    CUdeviceptr ptr() {
        return ptr;
    }

    /** The address {@code byteOffset} bytes in. */
    CUdeviceptr at(long byteOffset) {
        return ptr.withByteOffset(byteOffset);
    }

    long bytes() {
        return bytes;
    }

    void upload(float[] src, int n) {
        uploadAt(0, Pointer.to(src), (long) n * Sizeof.FLOAT);
    }

    void upload(int[] src, int n) {
        uploadAt(0, Pointer.to(src), (long) n * Sizeof.INT);
    }

    void uploadAt(long byteOffset, short[] src, int n) {
        uploadAt(byteOffset, Pointer.to(src), (long) n * Sizeof.SHORT);
    }

    void uploadAt(long byteOffset, byte[] src, int n) {
        uploadAt(byteOffset, Pointer.to(src), n);
    }

    void download(float[] dst, int n) {
        long size = (long) n * Sizeof.FLOAT;
        check(0, size);
        JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), ptr, size);
    }

    private void uploadAt(long byteOffset, Pointer src, long size) {
        check(byteOffset, size);
        if (size > 0) {
            JCudaDriver.cuMemcpyHtoD(ptr.withByteOffset(byteOffset), src, size);
        }
    }

    private void check(long offset, long size) {
        if (closed) {
            throw new IllegalStateException("device buffer used after close");
        }
        if (offset < 0 || offset + size > bytes) {
            throw new IndexOutOfBoundsException(String.format(
                    "copy of %d bytes at %d into a device buffer of %d", size, offset, bytes));
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            JCudaDriver.cuMemFree(ptr);
        }
    }
}
