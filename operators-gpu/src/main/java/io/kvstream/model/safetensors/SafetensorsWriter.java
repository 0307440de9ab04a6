package io.kvstream.model.safetensors;

import io.kvstream.model.gguf.RowEncoder;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.model.tensor.RowSource;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors files with F32, F16 or BF16 tensors, streaming each tensor row by row from a
 * {@link RowSource}, and the {@code model.safetensors.index.json} of sharded checkpoints.
 */
public final class SafetensorsWriter {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static final class PendingTensor {
        final String name;
        final GgmlType type;
        final long[] shape;
        final int rows;
        final int cols;
        final RowSource source;

        PendingTensor(
                String name, GgmlType type, long[] shape, int rows, int cols, RowSource source) {
            this.name = name;
            this.type = type;
            this.shape = shape;
            this.rows = rows;
            this.cols = cols;
            this.source = source;
        }
    }

    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<PendingTensor> tensors = new ArrayList<>();

    public SafetensorsWriter() {
        metadata.put("format", "pt");
    }

    public SafetensorsWriter putMetadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Declares a matrix of shape {@code [rows, cols]}. */
    public SafetensorsWriter addTensor(
            String name, GgmlType type, int rows, int cols, RowSource source) {
        return add(name, type, new long[] {rows, cols}, rows, cols, source);
    }

    /** Declares a copy of {@code tensor} (shape {@code [rows, cols]}) re-encoded as {@code type}. */
    public SafetensorsWriter addTensor(String name, GgmlType type, FloatTensor tensor) {
        return addTensor(name, type, tensor.rows(), tensor.cols(), RowSource.of(tensor));
    }

    /** Declares a vector of shape {@code [n]}. */
    public SafetensorsWriter addVector(String name, GgmlType type, float[] values) {
        return add(
                name,
                type,
                new long[] {values.length},
                1,
                values.length,
                (r, out) -> System.arraycopy(values, 0, out, 0, values.length));
    }

    private SafetensorsWriter add(
            String name, GgmlType type, long[] shape, int rows, int cols, RowSource source) {
        if (type != GgmlType.F32 && type != GgmlType.F16 && type != GgmlType.BF16) {
            throw new IllegalArgumentException(
                    String.format(
                            "tensor %s: safetensors holds F32, F16 or BF16 here, not %s",
                            name, type));
        }
        tensors.add(new PendingTensor(name, type, shape, rows, cols, source));
        return this;
    }

    public void write(Path path) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        ObjectNode meta = header.putObject("__metadata__");
        metadata.forEach(meta::put);
        long offset = 0;
        for (PendingTensor t : tensors) {
            long size = t.type.byteSize((long) t.rows * t.cols);
            ObjectNode n = header.putObject(t.name);
            n.put("dtype", t.type.name());
            ArrayNode shape = n.putArray("shape");
            for (long d : t.shape) {
                shape.add(d);
            }
            n.putArray("data_offsets").add(offset).add(offset + size);
            offset += size;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        // Pad with spaces so the data starts 8-aligned, as the reference writer does.
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer prefix = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        prefix.putLong(padded).put(json);
        while (prefix.hasRemaining()) {
            prefix.put((byte) ' ');
        }
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(path), 1 << 20)) {
            out.write(prefix.array());
            for (PendingTensor t : tensors) {
                float[] row = new float[t.cols];
                ByteBuffer encoded =
                        ByteBuffer.allocate((int) t.type.byteSize(t.cols))
                                .order(ByteOrder.LITTLE_ENDIAN);
                for (int r = 0; r < t.rows; r++) {
                    t.source.fill(r, row);
                    encoded.clear();
                    RowEncoder.encodeRow(t.type, row, encoded);
                    out.write(encoded.array(), 0, encoded.position());
                }
            }
        }
    }

    /** Writes {@value SafetensorsCheckpoint#INDEX} in {@code folder}: tensor name to shard file. */
    public static void writeIndex(Path folder, Map<String, String> weightMap, long totalSize)
            throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.putObject("metadata").put("total_size", totalSize);
        ObjectNode map = root.putObject("weight_map");
        weightMap.forEach(map::put);
        Files.write(
                folder.resolve(SafetensorsCheckpoint.INDEX),
                JSON.writerWithDefaultPrettyPrinter()
                        .writeValueAsString(root)
                        .getBytes(StandardCharsets.UTF_8));
    }
}
