package io.kvstream.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/** Maps one tensor's bytes of a model file, read-only and little-endian, without copying. */
public final class TensorRegion {

    private TensorRegion() {}

    /**
     * Each tensor is mapped on its own, so files over 2 GiB work; a single tensor over 2 GiB
     * cannot be mapped into one buffer and fails with a message naming it.
     */
    public static ByteBuffer map(FileChannel channel, Path file, String tensor, long offset, long size)
            throws IOException {
        if (size > Integer.MAX_VALUE) {
            throw new ModelFormatException(
                    String.format(
                            "%s: tensor '%s' takes %d bytes; tensors over 2 GiB cannot be mapped",
                            file, tensor, size));
        }
        return channel.map(FileChannel.MapMode.READ_ONLY, offset, size).order(ByteOrder.LITTLE_ENDIAN);
    }
}
