package io.kvstream.model.gguf;

import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.model.tensor.RowSource;

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
 * Writes GGUF v3 files: metadata of every type, and tensors in F32, F16, BF16, Q8_0 or Q4_0.
 *
 * <p>Tensors are declared with a {@link RowSource} and produced one row at a time while the file
 * is written, so a writer never holds more than one row of a tensor: this is how multi-GiB
 * synthetic models are written in bounded memory. Rows are encoded by {@link RowEncoder}, whose
 * quantization is ggml's reference, so files written here load bit-identically in llama.cpp.
 */
public final class GgufWriter {

    private static final class PendingTensor {
        final String name;
        final GgmlType type;
        final long[] dims;
        final int rows;
        final int cols;
        final RowSource source;

        PendingTensor(String name, GgmlType type, long[] dims, int rows, int cols, RowSource source) {
            this.name = name;
            this.type = type;
            this.dims = dims;
            this.rows = rows;
            this.cols = cols;
            this.source = source;
        }

        long byteSize() {
            return type.byteSize((long) rows * cols);
        }
    }

    private final int alignment;
    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<PendingTensor> tensors = new ArrayList<>();

    public GgufWriter() {
        this(GgufFile.DEFAULT_ALIGNMENT);
    }

    public GgufWriter(int alignment) {
        if (alignment <= 0 || Integer.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("alignment must be a power of two: " + alignment);
        }
        this.alignment = alignment;
        metadata.put(GgufFile.KEY_ALIGNMENT, GgufValue.uint32(alignment));
    }

    public GgufWriter put(String key, GgufValue value) {
        if (key.equals(GgufFile.KEY_ALIGNMENT)
                && !value.equals(GgufValue.uint32(alignment))) {
            throw new IllegalArgumentException(
                    String.format(
                            "%s is set by the writer's alignment (%d), got %s",
                            key, alignment, value));
        }
        metadata.put(key, value);
        return this;
    }

    /** Copies metadata, for example everything a source file carries. */
    public GgufWriter putAll(Map<String, GgufValue> values) {
        for (Map.Entry<String, GgufValue> e : values.entrySet()) {
            if (!e.getKey().equals(GgufFile.KEY_ALIGNMENT)) {
                put(e.getKey(), e.getValue());
            }
        }
        return this;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValue.string(value));
    }

    public GgufWriter putUInt32(String key, int value) {
        return put(key, GgufValue.uint32(value));
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValue.of(GgufValueType.INT32, value));
    }

    public GgufWriter putUInt64(String key, long value) {
        return put(key, GgufValue.of(GgufValueType.UINT64, value));
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValue.float32(value));
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValue.of(GgufValueType.BOOL, value));
    }

    public GgufWriter putStringArray(String key, List<String> values) {
        return put(key, GgufValue.array(GgufValueType.STRING, values.toArray(new String[0])));
    }

    public GgufWriter putInt32Array(String key, int[] values) {
        return put(key, GgufValue.array(GgufValueType.INT32, values.clone()));
    }

    public GgufWriter putFloat32Array(String key, float[] values) {
        return put(key, GgufValue.array(GgufValueType.FLOAT32, values.clone()));
    }

    /** Declares a matrix of {@code rows x cols} (GGUF dims {@code [cols, rows]}). */
    public GgufWriter addTensor(
            String name, GgmlType type, int rows, int cols, RowSource source) {
        return add(name, type, new long[] {cols, rows}, rows, cols, source);
    }

    /** Declares a matrix given in row-major order. */
    public GgufWriter addMatrix(String name, GgmlType type, int rows, int cols, float[] values) {
        if (values.length != (long) rows * cols) {
            throw new IllegalArgumentException(
                    String.format(
                            "tensor %s: %d values for %d x %d", name, values.length, rows, cols));
        }
        return addTensor(
                name, type, rows, cols, (r, out) -> System.arraycopy(values, r * cols, out, 0, cols));
    }

    /** Declares a copy of {@code tensor} under {@code name}, re-encoded as {@code type}. */
    public GgufWriter addTensor(String name, GgmlType type, FloatTensor tensor) {
        return addTensor(name, type, tensor.rows(), tensor.cols(), RowSource.of(tensor));
    }

    /** Declares a vector (one GGUF dimension). */
    public GgufWriter addVector(String name, GgmlType type, float[] values) {
        return add(
                name,
                type,
                new long[] {values.length},
                1,
                values.length,
                (r, out) -> System.arraycopy(values, 0, out, 0, values.length));
    }

    private GgufWriter add(
            String name, GgmlType type, long[] dims, int rows, int cols, RowSource source) {
        if (!RowEncoder.canEncode(type)) {
            throw new IllegalArgumentException(
                    String.format(
                            "tensor %s: cannot write type %s; supported: F32, F16, BF16, Q8_0, Q4_0",
                            name, type));
        }
        if (cols % type.blockSize() != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "tensor %s: rows of %d are not a whole number of %s blocks",
                            name, cols, type));
        }
        for (PendingTensor t : tensors) {
            if (t.name.equals(name)) {
                throw new IllegalArgumentException("tensor " + name + " is declared twice");
            }
        }
        tensors.add(new PendingTensor(name, type, dims, rows, cols, source));
        return this;
    }

    /** Writes the file, pulling every tensor's rows from its source in declaration order. */
    public void write(Path path) throws IOException {
        try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(path), 1 << 20)) {
            LittleEndianOut out = new LittleEndianOut(os);
            out.int32(GgufFile.MAGIC);
            out.int32(3);
            out.int64(tensors.size());
            out.int64(metadata.size());
            for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
                out.string(e.getKey());
                out.int32(e.getValue().type().id());
                writeValue(out, e.getValue());
            }
            long offset = 0;
            for (PendingTensor t : tensors) {
                out.string(t.name);
                out.int32(t.dims.length);
                for (long d : t.dims) {
                    out.int64(d);
                }
                out.int32(t.type.id());
                out.int64(offset);
                offset = GgufFile.align(offset + t.byteSize(), alignment);
            }
            out.pad(alignment);
            long dataStart = out.written();
            for (PendingTensor t : tensors) {
                writeTensor(out, t);
                out.pad(alignment);
            }
            if (out.written() - dataStart != offset) {
                throw new IllegalStateException("tensor data size mismatch");
            }
        }
    }

    private static void writeTensor(LittleEndianOut out, PendingTensor t) throws IOException {
        float[] row = new float[t.cols];
        ByteBuffer encoded =
                ByteBuffer.allocate((int) t.type.byteSize(t.cols)).order(ByteOrder.LITTLE_ENDIAN);
        for (int r = 0; r < t.rows; r++) {
            t.source.fill(r, row);
            encoded.clear();
            RowEncoder.encodeRow(t.type, row, encoded);
            out.bytes(encoded.array(), encoded.position());
        }
    }

    private static void writeValue(LittleEndianOut out, GgufValue v) throws IOException {
        Object x = v.value();
        switch (v.type()) {
            case UINT8:
            case INT8:
                out.int8((Byte) x);
                break;
            case UINT16:
            case INT16:
                out.int16((Short) x);
                break;
            case UINT32:
            case INT32:
                out.int32((Integer) x);
                break;
            case UINT64:
            case INT64:
                out.int64((Long) x);
                break;
            case FLOAT32:
                out.int32(Float.floatToRawIntBits((Float) x));
                break;
            case FLOAT64:
                out.int64(Double.doubleToRawLongBits((Double) x));
                break;
            case BOOL:
                out.int8((Boolean) x ? 1 : 0);
                break;
            case STRING:
                out.string((String) x);
                break;
            case ARRAY:
                writeArray(out, v);
                break;
            default:
                throw new AssertionError(v.type());
        }
    }

    private static void writeArray(LittleEndianOut out, GgufValue v) throws IOException {
        GgufValueType et = v.elementType();
        Object a = v.value();
        int n = v.length();
        out.int32(et.id());
        out.int64(n);
        for (int i = 0; i < n; i++) {
            switch (et) {
                case UINT8:
                case INT8:
                    out.int8(((byte[]) a)[i]);
                    break;
                case UINT16:
                case INT16:
                    out.int16(((short[]) a)[i]);
                    break;
                case UINT32:
                case INT32:
                    out.int32(((int[]) a)[i]);
                    break;
                case UINT64:
                case INT64:
                    out.int64(((long[]) a)[i]);
                    break;
                case FLOAT32:
                    out.int32(Float.floatToRawIntBits(((float[]) a)[i]));
                    break;
                case FLOAT64:
                    out.int64(Double.doubleToRawLongBits(((double[]) a)[i]));
                    break;
                case BOOL:
                    out.int8(((boolean[]) a)[i] ? 1 : 0);
                    break;
                case STRING:
                    out.string(((String[]) a)[i]);
                    break;
                case ARRAY:
                    writeArray(out, ((GgufValue[]) a)[i]);
                    break;
                default:
                    throw new AssertionError(et);
            }
        }
    }

    private static final class LittleEndianOut {
        private final OutputStream out;
        private final byte[] scratch = new byte[8];
        private long written;

        LittleEndianOut(OutputStream out) {
            this.out = out;
        }

        long written() {
            return written;
        }

        void int8(int v) throws IOException {
            out.write(v);
            written++;
        }

        void int16(short v) throws IOException {
            scratch[0] = (byte) v;
            scratch[1] = (byte) (v >>> 8);
            bytes(scratch, 2);
        }

        void int32(int v) throws IOException {
            for (int i = 0; i < 4; i++) {
                scratch[i] = (byte) (v >>> (8 * i));
            }
            bytes(scratch, 4);
        }

        void int64(long v) throws IOException {
            for (int i = 0; i < 8; i++) {
                scratch[i] = (byte) (v >>> (8 * i));
            }
            bytes(scratch, 8);
        }

        void string(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            int64(b.length);
            bytes(b, b.length);
        }

        void bytes(byte[] b, int n) throws IOException {
            out.write(b, 0, n);
            written += n;
        }

        void pad(int alignment) throws IOException {
            while (written % alignment != 0) {
                int8(0);
            }
        }
    }
}
