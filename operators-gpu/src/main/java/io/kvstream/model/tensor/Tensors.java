package io.kvstream.model.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Creates the tensor class for a storage format over bytes read in place. */
public final class Tensors {

    private Tensors() {}

    /** Whether this runtime can compute with tensors of {@code type}. */
    public static boolean isSupported(GgmlType type) {
        switch (type) {
            case F32:
            case F16:
            case BF16:
            case Q8_0:
            case Q4_0:
            case Q4_K:
            case Q6_K:
                return true;
            default:
                return false;
        }
    }

    /**
     * Wraps {@code data} (from its position, little-endian) as a {@code rows x cols} tensor.
     *
     * @throws IllegalArgumentException when the type is not supported, {@code cols} is not a
     *     whole number of blocks, or {@code data} is too short
     */
    public static FloatTensor wrap(String name, GgmlType type, int rows, int cols, ByteBuffer data) {
        if (cols % type.blockSize() != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "tensor %s: rows of %d elements are not a whole number of %s blocks of %d",
                            name, cols, type, type.blockSize()));
        }
        switch (type) {
            case F32:
                return new F32Tensor(name, rows, cols, data);
            case F16:
                return new F16Tensor(name, rows, cols, data);
            case BF16:
                return new BF16Tensor(name, rows, cols, data);
            case Q8_0:
                return new Q8_0Tensor(name, rows, cols, data);
            case Q4_0:
                return new Q4_0Tensor(name, rows, cols, data);
            case Q4_K:
                return new Q4KTensor(name, rows, cols, data);
            case Q6_K:
                return new Q6KTensor(name, rows, cols, data);
            default:
                throw new IllegalArgumentException(
                        String.format(
                                "tensor %s has type %s (id %d), which this runtime does not support;"
                                        + " supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K",
                                name, type, type.id()));
        }
    }

    /**
     * {@code tensor} as the CPU's dot products read it fastest: Q8_0 and Q4_0 matrices copied
     * onto the heap with their rows interleaved (see {@link InterleavedTensor}), where this
     * machine's vectors suit the kernels; any other tensor is returned as it is. {@code
     * activations} says how Q4_0 copies take tokens; they fall back to {@link Activations#F32}
     * where the integer kernels do not fit the vectors.
     */
    public static FloatTensor interleaved(FloatTensor tensor, Activations activations) {
        if (!interleaves(tensor)) {
            return tensor;
        }
        return tensor instanceof Q8_0Tensor
                ? new Q8_0x32Tensor((Q8_0Tensor) tensor)
                : new Q4_0x32Tensor((Q4_0Tensor) tensor, activations);
    }

    /** Bytes {@link #interleaved} would take on the heap for {@code tensor}; 0 when it would not copy it. */
    public static long interleavedBytes(FloatTensor tensor) {
        if (!interleaves(tensor)) {
            return 0;
        }
        return tensor instanceof Q8_0Tensor
                ? Q8_0x32Tensor.heapBytes(tensor.rows(), tensor.cols())
                : Q4_0x32Tensor.heapBytes(tensor.rows(), tensor.cols());
    }

    private static boolean interleaves(FloatTensor tensor) {
        return (tensor instanceof Q8_0Tensor || tensor instanceof Q4_0Tensor) && InterleavedTensor.fits();
    }

    /** A little-endian view of exactly the tensor's bytes, after checking there are enough. */
    static ByteBuffer checked(FloatTensor tensor, ByteBuffer data) {
        long need = tensor.byteSize();
        if (data.remaining() < need) {
            throw new IllegalArgumentException(
                    String.format(
                            "tensor %s needs %d bytes but only %d were given",
                            tensor, need, data.remaining()));
        }
        ByteBuffer slice = data.slice();
        slice.limit((int) need);
        return slice.order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Reads a whole tensor (typically a norm or bias vector) into floats. */
    public static float[] toFloats(FloatTensor tensor) {
        long n = (long) tensor.rows() * tensor.cols();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(
                    String.format("tensor %s is too large to copy into a float array", tensor));
        }
        float[] out = new float[(int) n];
        for (int r = 0; r < tensor.rows(); r++) {
            tensor.dequantizeRow(r, out, r * tensor.cols());
        }
        return out;
    }
}
