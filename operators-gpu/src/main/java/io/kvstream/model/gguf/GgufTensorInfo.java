package io.kvstream.model.gguf;

import io.kvstream.model.TensorDirectory;

import io.kvstream.model.tensor.GgmlType;

import java.util.Arrays;

/**
 * Where a tensor lies in a GGUF file and what shape it has.
 *
 * @param name tensor name
 * @param dims GGUF dimensions, fastest-varying first: {@code [cols, rows]} for a matrix
 * @param type element type
 * @param offset absolute offset of the first byte in the file
 * @param byteSize bytes the tensor takes
 */
public record GgufTensorInfo(String name, long[] dims, GgmlType type, long offset, long byteSize)
        implements TensorDirectory.Entry {

    public long elementCount() {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }

    /** Elements per row: the first GGUF dimension. */
    public long cols() {
        return dims.length == 0 ? 1 : dims[0];
    }

    /** Rows: the product of the other dimensions (1 for a vector). */
    public long rows() {
        long n = 1;
        for (int i = 1; i < dims.length; i++) {
            n *= dims[i];
        }
        return n;
    }

    @Override
    public String toString() {
        return String.format("%s %s%s @%d", name, type, Arrays.toString(dims), offset);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof GgufTensorInfo)) {
            return false;
        }
        GgufTensorInfo t = (GgufTensorInfo) o;
        return name.equals(t.name)
                && Arrays.equals(dims, t.dims)
                && type == t.type
                && offset == t.offset
                && byteSize == t.byteSize;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Long.hashCode(offset);
    }
}
