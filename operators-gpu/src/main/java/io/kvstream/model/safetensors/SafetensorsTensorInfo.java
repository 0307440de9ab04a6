package io.kvstream.model.safetensors;

import io.kvstream.model.TensorDirectory;

import java.util.Arrays;

/**
 * One entry of a safetensors header.
 *
 * @param name tensor name
 * @param dtype safetensors dtype name ({@code F16}, {@code BF16}, {@code F32}, ...)
 * @param shape dimensions, slowest-varying first: {@code [out, in]} for a matrix
 * @param offset absolute offset of the first byte in the file
 * @param byteSize bytes the tensor takes
 */
public record SafetensorsTensorInfo(
        String name, String dtype, long[] shape, long offset, long byteSize) implements TensorDirectory.Entry {

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public String toString() {
        return String.format("%s %s%s @%d", name, dtype, Arrays.toString(shape), offset);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof SafetensorsTensorInfo)) {
            return false;
        }
        SafetensorsTensorInfo t = (SafetensorsTensorInfo) o;
        return name.equals(t.name)
                && dtype.equals(t.dtype)
                && Arrays.equals(shape, t.shape)
                && offset == t.offset
                && byteSize == t.byteSize;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Long.hashCode(offset);
    }
}
