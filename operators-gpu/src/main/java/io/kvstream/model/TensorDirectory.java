package io.kvstream.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;

/**
 * The tensors of an open model file by name, each mapped from the file on request. GGUF and
 * safetensors describe their tensors differently but find and map them the same way.
 *
 * @param <I> the format's description of a tensor
 */
public final class TensorDirectory<I extends TensorDirectory.Entry> {

    /** Where a tensor's bytes lie in the file. */
    public interface Entry {
        long offset();

        long byteSize();
    }

    private final Path file;
    private final FileChannel channel;
    private final Map<String, I> tensors;

    /** @param tensors in file order; kept as given, so not to be changed afterwards */
    public TensorDirectory(Path file, FileChannel channel, Map<String, I> tensors) {
        this.file = file;
        this.channel = channel;
        this.tensors = Collections.unmodifiableMap(tensors);
    }

    /** Every tensor, in file order. */
    public Map<String, I> infos() {
        return tensors;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    public I info(String name) throws ModelFormatException {
        I info = tensors.get(name);
        if (info == null) {
            throw ModelFormatException.missingTensor(file, name);
        }
        return info;
    }

    /** The tensor's bytes, memory-mapped, little-endian. */
    public ByteBuffer map(String name) throws IOException {
        I info = info(name);
        return TensorRegion.map(channel, file, name, info.offset(), info.byteSize());
    }
}
