package io.kvstream.model.safetensors;

import io.kvstream.model.ModelFormatException;
import io.kvstream.model.TensorDirectory;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.model.tensor.Tensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import javax.annotation.Nullable;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One safetensors file: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the data. Tensors in F32, F16 and BF16 are read in
 * place through per-tensor memory maps; other dtypes are listed but cannot be read.
 */
public final class SafetensorsFile implements Closeable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L << 20;

    private final Path path;
    private final FileChannel channel;
    private final TensorDirectory<SafetensorsTensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(
            Path path,
            FileChannel channel,
            Map<String, SafetensorsTensorInfo> tensors,
            Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.tensors = new TensorDirectory<>(path, channel, tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    public static SafetensorsFile open(Path path) throws IOException {
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
        try {
            return read(path, channel);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private static SafetensorsFile read(Path path, FileChannel channel) throws IOException {
        long fileSize = channel.size();
        if (fileSize < 8) {
            throw new ModelFormatException(
                    String.format(
                            "%s is truncated: %d bytes, less than the 8-byte header length",
                            path, fileSize));
        }
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, len, 0);
        long headerLength = len.getLong(0);
        if (headerLength < 2 || headerLength > MAX_HEADER || 8 + headerLength > fileSize) {
            throw new ModelFormatException(
                    String.format(
                            "%s is not a safetensors file or is truncated: header length %s,"
                                    + " file size %d",
                            path, Long.toUnsignedString(headerLength), fileSize));
        }
        ByteBuffer header = ByteBuffer.allocate((int) headerLength);
        readFully(channel, header, 8);
        JsonNode root;
        try {
            root = JSON.readTree(header.array());
        } catch (IOException e) {
            throw new ModelFormatException(
                    String.format("%s: the safetensors header is not JSON: %s", path, e.getMessage()),
                    e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(
                    String.format("%s: the safetensors header is not a JSON object", path));
        }
        long dataStart = 8 + headerLength;
        Map<String, SafetensorsTensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode t = e.getValue();
            if (name.equals("__metadata__")) {
                t.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            String dtype = t.path("dtype").asText("");
            int elementSize = elementSize(dtype);
            if (elementSize < 0) {
                throw new ModelFormatException(
                        String.format(
                                "%s: tensor '%s' has unknown dtype '%s'", path, name, dtype));
            }
            JsonNode shapeNode = t.path("shape");
            JsonNode offsets = t.path("data_offsets");
            if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
                throw new ModelFormatException(
                        String.format(
                                "%s: tensor '%s' lacks a shape or data_offsets: %s",
                                path, name, t));
            }
            long[] shape = new long[shapeNode.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong(-1);
                if (shape[i] < 0) {
                    throw new ModelFormatException(
                            String.format("%s: tensor '%s' has bad shape %s", path, name, shapeNode));
                }
                elements = Math.multiplyExact(elements, shape[i]);
            }
            long begin = offsets.get(0).asLong(-1);
            long end = offsets.get(1).asLong(-1);
            long size = elements * elementSize;
            if (begin < 0 || end - begin != size) {
                throw new ModelFormatException(
                        String.format(
                                "%s: tensor '%s' (%s %s) spans bytes %d..%d, expected %d bytes",
                                path, name, dtype, Arrays.toString(shape), begin, end, size));
            }
            if (dataStart + end > fileSize) {
                throw new ModelFormatException(
                        String.format(
                                "%s is truncated: tensor '%s' needs bytes %d..%d but the file has"
                                        + " %d bytes",
                                path, name, dataStart + begin, dataStart + end, fileSize));
            }
            tensors.put(name, new SafetensorsTensorInfo(name, dtype, shape, dataStart + begin, size));
        }
        return new SafetensorsFile(path, channel, tensors, metadata);
    }

    private static void readFully(FileChannel channel, ByteBuffer buf, long position)
            throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = channel.read(buf, pos);
            if (n < 0) {
                throw new ModelFormatException("unexpected end of file");
            }
            pos += n;
        }
    }

    /** Bytes per element of a safetensors dtype, or -1 when unknown. */
    static int elementSize(String dtype) {
        switch (dtype) {
            case "BOOL":
            case "U8":
            case "I8":
            case "F8_E4M3":
            case "F8_E5M2":
                return 1;
            case "I16":
            case "U16":
            case "F16":
            case "BF16":
                return 2;
            case "I32":
            case "U32":
            case "F32":
                return 4;
            case "I64":
            case "U64":
            case "F64":
                return 8;
            default:
                return -1;
        }
    }

    /** The GGML type with the same element encoding, or null when there is none we compute with. */
    @Nullable
    static GgmlType ggmlType(String dtype) {
        switch (dtype) {
            case "F32":
                return GgmlType.F32;
            case "F16":
                return GgmlType.F16;
            case "BF16":
                return GgmlType.BF16;
            default:
                return null;
        }
    }

    public Path path() {
        return path;
    }

    /** The {@code __metadata__} strings. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The tensor directory in header order. */
    public Map<String, SafetensorsTensorInfo> tensorInfos() {
        return tensors.infos();
    }

    public boolean hasTensor(String name) {
        return tensors.has(name);
    }

    public SafetensorsTensorInfo tensorInfo(String name) throws ModelFormatException {
        return tensors.info(name);
    }

    /** The tensor's bytes, memory-mapped, little-endian. */
    public ByteBuffer map(String name) throws IOException {
        return tensors.map(name);
    }

    /** The tensor as a matrix: the last dimension is the row, the others are rows. */
    public FloatTensor tensor(String name) throws IOException {
        SafetensorsTensorInfo info = tensorInfo(name);
        GgmlType type = ggmlType(info.dtype());
        if (type == null) {
            throw new ModelFormatException(
                    String.format(
                            "%s: tensor '%s' has dtype %s; supported dtypes are F32, F16, BF16",
                            path, name, info.dtype()));
        }
        long[] s = info.shape();
        long cols = s.length == 0 ? 1 : s[s.length - 1];
        long rows = cols == 0 ? 0 : info.elementCount() / cols;
        if (rows > Integer.MAX_VALUE || cols > Integer.MAX_VALUE || rows == 0) {
            throw new ModelFormatException(
                    String.format("%s: tensor '%s' has unusable shape %s", path, name, Arrays.toString(s)));
        }
        return Tensors.wrap(name, type, (int) rows, (int) cols, map(name));
    }

    /** The matrix {@code name}, checked to have shape {@code [rows, cols]}. */
    public FloatTensor tensor(String name, int rows, int cols) throws IOException {
        SafetensorsTensorInfo info = tensorInfo(name);
        long[] s = info.shape();
        if (s.length != 2 || s[0] != rows || s[1] != cols) {
            throw new ModelFormatException(
                    String.format(
                            "%s: tensor '%s' has shape %s, expected [%d, %d]",
                            path, name, Arrays.toString(s), rows, cols));
        }
        return tensor(name);
    }

    /** A vector of {@code length} elements, read into floats. */
    public float[] floats(String name, int length) throws IOException {
        SafetensorsTensorInfo info = tensorInfo(name);
        if (info.elementCount() != length) {
            throw new ModelFormatException(
                    String.format(
                            "%s: tensor '%s' has shape %s, expected %d elements",
                            path, name, Arrays.toString(info.shape()), length));
        }
        return Tensors.toFloats(tensor(name));
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public String toString() {
        return String.format("SafetensorsFile[%s, %d tensors]", path, tensors.infos().size());
    }
}
