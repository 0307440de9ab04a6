package io.kvstream.model.gguf;

import io.kvstream.model.ModelFormatException;
import io.kvstream.model.TensorDirectory;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.model.tensor.Tensors;

import javax.annotation.Nullable;

import java.io.Closeable;
import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (versions 2 and 3): typed metadata, tensor directory, and tensors read in place.
 *
 * <p>The header is parsed and every tensor's extent is checked against the file size when the
 * file is opened; tensor bytes are memory-mapped one tensor at a time when asked for, so files
 * larger than 2 GiB work as long as no single tensor is. Mappings stay valid after {@link
 * #close()}, which only releases the file handle.
 */
public final class GgufFile implements Closeable {

    /** "GGUF" read as a little-endian int. */
    public static final int MAGIC = 0x46554747;

    public static final int DEFAULT_ALIGNMENT = 32;

    public static final String KEY_ALIGNMENT = "general.alignment";
    public static final String KEY_ARCHITECTURE = "general.architecture";

    private static final int MAX_DIMS = 4;

    private final Path path;
    private final FileChannel channel;
    private final int version;
    private final Map<String, GgufValue> metadata;
    private final TensorDirectory<GgufTensorInfo> tensors;
    private final int alignment;
    private final long dataOffset;

    private GgufFile(
            Path path,
            FileChannel channel,
            int version,
            Map<String, GgufValue> metadata,
            Map<String, GgufTensorInfo> tensors,
            int alignment,
            long dataOffset) {
        this.path = path;
        this.channel = channel;
        this.version = version;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = new TensorDirectory<>(path, channel, tensors);
        this.alignment = alignment;
        this.dataOffset = dataOffset;
    }

    /** Opens and validates {@code path}; the caller closes it. */
    public static GgufFile open(Path path) throws IOException {
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
        try {
            return read(path, channel);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private static GgufFile read(Path path, FileChannel channel) throws IOException {
        long fileSize = channel.size();
        // The header (vocabularies included) is far below 2 GiB; map at most that much of it.
        long headerWindow = Math.min(fileSize, Integer.MAX_VALUE - 8);
        MappedByteBuffer buf = channel.map(FileChannel.MapMode.READ_ONLY, 0, headerWindow);
        buf.order(ByteOrder.LITTLE_ENDIAN);
        HeaderReader in = new HeaderReader(path, buf, fileSize);

        int magic = in.int32("magic");
        if (magic != MAGIC) {
            throw new ModelFormatException(
                    String.format(
                            "%s is not a GGUF file: magic is 0x%08x, expected 0x%08x (\"GGUF\")",
                            path, magic, MAGIC));
        }
        int version = in.int32("version");
        if (version != 2 && version != 3) {
            String hint =
                    Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3
                            ? " (a big-endian file?)"
                            : "";
            throw new ModelFormatException(
                    String.format(
                            "%s has GGUF version %d%s; supported versions are 2 and 3",
                            path, version, hint));
        }
        long tensorCount = in.count("tensor count", 8 + 4 + 8 + 4 + 8);
        long kvCount = in.count("metadata count", 8 + 4);

        Map<String, GgufValue> metadata = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = in.string("metadata key");
            int typeId = in.int32("type of " + key);
            GgufValueType type = GgufValueType.byId(typeId);
            if (type == null) {
                throw new ModelFormatException(
                        String.format(
                                "%s: metadata key '%s' has unknown value type id %d",
                                path, key, typeId));
            }
            metadata.put(key, in.value(key, type));
        }

        int alignment = DEFAULT_ALIGNMENT;
        GgufValue align = metadata.get(KEY_ALIGNMENT);
        if (align != null) {
            long a = integral(path, KEY_ALIGNMENT, align);
            if (a <= 0 || a > (1 << 20) || Long.bitCount(a) != 1) {
                throw new ModelFormatException(
                        String.format(
                                "%s: %s is %d, expected a power of two", path, KEY_ALIGNMENT, a));
            }
            alignment = (int) a;
        }

        String[] names = new String[(int) tensorCount];
        long[][] dims = new long[(int) tensorCount][];
        GgmlType[] types = new GgmlType[(int) tensorCount];
        long[] offsets = new long[(int) tensorCount];
        for (int i = 0; i < tensorCount; i++) {
            String name = in.string("tensor name");
            int nDims = in.int32("dimension count of tensor " + name);
            if (nDims < 1 || nDims > MAX_DIMS) {
                throw new ModelFormatException(
                        String.format(
                                "%s: tensor '%s' has %d dimensions, expected 1 to %d",
                                path, name, nDims, MAX_DIMS));
            }
            long[] d = new long[nDims];
            for (int k = 0; k < nDims; k++) {
                d[k] = in.int64("dimensions of tensor " + name);
                if (d[k] <= 0 || d[k] > (1L << 40)) {
                    throw new ModelFormatException(
                            String.format(
                                    "%s: tensor '%s' has bad dimensions %s",
                                    path, name, Arrays.toString(d)));
                }
            }
            int typeId = in.int32("type of tensor " + name);
            GgmlType type = GgmlType.byId(typeId);
            if (type == null) {
                throw new ModelFormatException(
                        String.format(
                                "%s: tensor '%s' has unknown GGML type id %d",
                                path, name, typeId));
            }
            names[i] = name;
            dims[i] = d;
            types[i] = type;
            offsets[i] = in.int64("offset of tensor " + name);
        }

        long headerEnd = in.position();
        long dataOffset = align(headerEnd, alignment);
        Map<String, GgufTensorInfo> tensors = new LinkedHashMap<>();
        for (int i = 0; i < tensorCount; i++) {
            String name = names[i];
            long elements = 1;
            for (long d : dims[i]) {
                elements = Math.multiplyExact(elements, d);
            }
            if (dims[i][0] % types[i].blockSize() != 0) {
                throw new ModelFormatException(
                        String.format(
                                "%s: tensor '%s' of type %s has rows of %d elements, not a whole"
                                        + " number of blocks of %d",
                                path, name, types[i], dims[i][0], types[i].blockSize()));
            }
            if (offsets[i] % alignment != 0) {
                throw new ModelFormatException(
                        String.format(
                                "%s: tensor '%s' starts at data offset %d, which is not a multiple"
                                        + " of the alignment %d",
                                path, name, offsets[i], alignment));
            }
            long size = types[i].byteSize(elements);
            long start = dataOffset + offsets[i];
            if (start + size > fileSize) {
                throw new ModelFormatException(
                        String.format(
                                "%s is truncated: tensor '%s' (%s %s) needs bytes %d..%d but the"
                                        + " file has %d bytes",
                                path,
                                name,
                                types[i],
                                Arrays.toString(dims[i]),
                                start,
                                start + size,
                                fileSize));
            }
            if (tensors.put(name, new GgufTensorInfo(name, dims[i], types[i], start, size))
                    != null) {
                throw new ModelFormatException(
                        String.format("%s: tensor '%s' appears twice", path, name));
            }
        }
        return new GgufFile(path, channel, version, metadata, tensors, alignment, dataOffset);
    }

    static long align(long offset, int alignment) {
        return (offset + alignment - 1) / alignment * alignment;
    }

    public Path path() {
        return path;
    }

    public int version() {
        return version;
    }

    public int alignment() {
        return alignment;
    }

    /** Absolute offset of the tensor data section. */
    public long dataOffset() {
        return dataOffset;
    }

    // ------------------------------------------------------------------------------------------
    // Metadata
    // ------------------------------------------------------------------------------------------

    /** All metadata in file order. */
    public Map<String, GgufValue> metadata() {
        return metadata;
    }

    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    @Nullable
    public GgufValue get(String key) {
        return metadata.get(key);
    }

    private GgufValue require(String key) throws ModelFormatException {
        GgufValue v = metadata.get(key);
        if (v == null) {
            throw new ModelFormatException(
                    String.format("%s: metadata key '%s' is missing", path, key));
        }
        return v;
    }

    private ModelFormatException wrongType(String key, GgufValue v, String expected) {
        return new ModelFormatException(
                String.format(
                        "%s: metadata key '%s' is %s, expected %s", path, key, v, expected));
    }

    public String getString(String key) throws ModelFormatException {
        GgufValue v = require(key);
        if (v.type() != GgufValueType.STRING) {
            throw wrongType(key, v, "a string");
        }
        return (String) v.value();
    }

    @Nullable
    public String getString(String key, @Nullable String defaultValue)
            throws ModelFormatException {
        return has(key) ? getString(key) : defaultValue;
    }

    /** An integer of any width that fits in a Java int (unsigned values read as unsigned). */
    public int getInt(String key) throws ModelFormatException {
        long v = getLong(key);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new ModelFormatException(
                    String.format("%s: metadata key '%s' is %d, too large", path, key, v));
        }
        return (int) v;
    }

    public int getInt(String key, int defaultValue) throws ModelFormatException {
        return has(key) ? getInt(key) : defaultValue;
    }

    public long getLong(String key) throws ModelFormatException {
        return integral(path, key, require(key));
    }

    /** A float32 or float64 value, or an integer, as a float. */
    public float getFloat(String key) throws ModelFormatException {
        GgufValue v = require(key);
        switch (v.type()) {
            case FLOAT32:
                return (Float) v.value();
            case FLOAT64:
                return (float) (double) (Double) v.value();
            default:
                return integral(path, key, v);
        }
    }

    public float getFloat(String key, float defaultValue) throws ModelFormatException {
        return has(key) ? getFloat(key) : defaultValue;
    }

    public boolean getBoolean(String key) throws ModelFormatException {
        GgufValue v = require(key);
        if (v.type() != GgufValueType.BOOL) {
            throw wrongType(key, v, "a bool");
        }
        return (Boolean) v.value();
    }

    public List<String> getStringList(String key) throws ModelFormatException {
        GgufValue v = require(key);
        if (v.type() != GgufValueType.ARRAY || v.elementType() != GgufValueType.STRING) {
            throw wrongType(key, v, "an array of strings");
        }
        return Collections.unmodifiableList(Arrays.asList((String[]) v.value()));
    }

    /** An array of any integer type whose elements fit in a Java int. */
    public int[] getIntArray(String key) throws ModelFormatException {
        GgufValue v = require(key);
        if (v.type() != GgufValueType.ARRAY) {
            throw wrongType(key, v, "an array of integers");
        }
        Object a = v.value();
        GgufValueType et = v.elementType();
        int n = v.length();
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            long x;
            switch (et) {
                case UINT8:
                    x = ((byte[]) a)[i] & 0xFF;
                    break;
                case INT8:
                    x = ((byte[]) a)[i];
                    break;
                case UINT16:
                    x = ((short[]) a)[i] & 0xFFFF;
                    break;
                case INT16:
                    x = ((short[]) a)[i];
                    break;
                case INT32:
                    x = ((int[]) a)[i];
                    break;
                case UINT32:
                    x = ((int[]) a)[i] & 0xFFFF_FFFFL;
                    break;
                case INT64:
                case UINT64:
                    x = ((long[]) a)[i];
                    if (et == GgufValueType.UINT64 && x < 0) {
                        x = Long.MAX_VALUE;
                    }
                    break;
                default:
                    throw wrongType(key, v, "an array of integers");
            }
            if (x < Integer.MIN_VALUE || x > Integer.MAX_VALUE) {
                throw new ModelFormatException(
                        String.format(
                                "%s: element %d of metadata key '%s' is %d, too large",
                                path, i, key, x));
            }
            out[i] = (int) x;
        }
        return out;
    }

    private static long integral(Path path, String key, GgufValue v) throws ModelFormatException {
        Object x = v.value();
        switch (v.type()) {
            case UINT8:
                return (Byte) x & 0xFF;
            case INT8:
                return (Byte) x;
            case UINT16:
                return (Short) x & 0xFFFF;
            case INT16:
                return (Short) x;
            case UINT32:
                return (Integer) x & 0xFFFF_FFFFL;
            case INT32:
                return (Integer) x;
            case INT64:
                return (Long) x;
            case UINT64:
                if ((Long) x < 0) {
                    throw new ModelFormatException(
                            String.format(
                                    "%s: metadata key '%s' is %s, too large",
                                    path, key, Long.toUnsignedString((Long) x)));
                }
                return (Long) x;
            default:
                throw new ModelFormatException(
                        String.format(
                                "%s: metadata key '%s' is %s, expected an integer", path, key, v));
        }
    }

    // ------------------------------------------------------------------------------------------
    // Tensors
    // ------------------------------------------------------------------------------------------

    /** The tensor directory in file order. */
    public Map<String, GgufTensorInfo> tensorInfos() {
        return tensors.infos();
    }

    public boolean hasTensor(String name) {
        return tensors.has(name);
    }

    public GgufTensorInfo tensorInfo(String name) throws ModelFormatException {
        return tensors.info(name);
    }

    /** The tensor's bytes, memory-mapped, little-endian. */
    public ByteBuffer map(String name) throws IOException {
        return tensors.map(name);
    }

    /** The tensor as a matrix of {@code rows x cols}, whatever its shape. */
    public FloatTensor tensor(String name) throws IOException {
        GgufTensorInfo info = tensorInfo(name);
        if (!Tensors.isSupported(info.type())) {
            throw new ModelFormatException(
                    String.format(
                            "%s: tensor '%s' has type %s, which this runtime does not support",
                            path, name, info.type()));
        }
        if (info.rows() > Integer.MAX_VALUE || info.cols() > Integer.MAX_VALUE) {
            throw new ModelFormatException(
                    String.format("%s: tensor '%s' is too large: %s", path, name, info));
        }
        return Tensors.wrap(name, info.type(), (int) info.rows(), (int) info.cols(), map(name));
    }

    /**
     * The matrix {@code name}, checked to have {@code rows} rows of {@code cols} (GGUF dims
     * {@code [cols, rows]}).
     */
    public FloatTensor tensor(String name, int rows, int cols) throws IOException {
        GgufTensorInfo info = tensorInfo(name);
        if (info.dims().length != 2 || info.dims()[0] != cols || info.dims()[1] != rows) {
            throw new ModelFormatException(
                    String.format(
                            "%s: tensor '%s' has GGUF dims %s, expected [%d, %d] (%d rows of %d)",
                            path, name, Arrays.toString(info.dims()), cols, rows, rows, cols));
        }
        return tensor(name);
    }

    /** A vector of {@code length} elements of any supported type, read into floats. */
    public float[] floats(String name, int length) throws IOException {
        GgufTensorInfo info = tensorInfo(name);
        if (info.elementCount() != length) {
            throw new ModelFormatException(
                    String.format(
                            "%s: tensor '%s' has GGUF dims %s, expected %d elements",
                            path, name, Arrays.toString(info.dims()), length));
        }
        return Tensors.toFloats(tensor(name));
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public String toString() {
        return String.format(
                "GgufFile[%s v%d, %d keys, %d tensors]",
                path, version, metadata.size(), tensors.infos().size());
    }

    // ------------------------------------------------------------------------------------------

    /** Reads header fields, turning a read past the end into a message naming the field. */
    private static final class HeaderReader {
        private final Path path;
        private final ByteBuffer buf;
        private final long fileSize;

        HeaderReader(Path path, ByteBuffer buf, long fileSize) {
            this.path = path;
            this.buf = buf;
            this.fileSize = fileSize;
        }

        long position() {
            return buf.position();
        }

        private ModelFormatException truncated(String what, long need) {
            return new ModelFormatException(
                    String.format(
                            "%s is truncated: reading %s needs %d bytes at offset %d but the file"
                                    + " has %d bytes",
                            path, what, need, buf.position(), fileSize));
        }

        private void ensure(String what, long n) throws ModelFormatException {
            if (n > buf.remaining()) {
                throw truncated(what, n);
            }
        }

        int int32(String what) throws ModelFormatException {
            ensure(what, 4);
            return buf.getInt();
        }

        long int64(String what) throws ModelFormatException {
            ensure(what, 8);
            return buf.getLong();
        }

        /** A count whose items take at least {@code minItemBytes} each, checked against the file. */
        long count(String what, int minItemBytes) throws ModelFormatException {
            long n = int64(what);
            if (n < 0 || n > buf.remaining() / minItemBytes) {
                throw new ModelFormatException(
                        String.format(
                                "%s is truncated or corrupt: %s is %s, more than the %d remaining"
                                        + " bytes can hold",
                                path, what, Long.toUnsignedString(n), buf.remaining()));
            }
            return n;
        }

        String string(String what) throws ModelFormatException {
            long n = int64(what);
            if (n < 0 || n > buf.remaining()) {
                throw truncated(what + " (string of " + Long.toUnsignedString(n) + " bytes)", n);
            }
            byte[] b = new byte[(int) n];
            buf.get(b);
            return new String(b, StandardCharsets.UTF_8);
        }

        GgufValue value(String key, GgufValueType type) throws ModelFormatException {
            try {
                switch (type) {
                    case UINT8:
                    case INT8:
                        return GgufValue.of(type, buf.get());
                    case UINT16:
                    case INT16:
                        return GgufValue.of(type, buf.getShort());
                    case UINT32:
                    case INT32:
                        return GgufValue.of(type, buf.getInt());
                    case UINT64:
                    case INT64:
                        return GgufValue.of(type, buf.getLong());
                    case FLOAT32:
                        return GgufValue.of(type, buf.getFloat());
                    case FLOAT64:
                        return GgufValue.of(type, buf.getDouble());
                    case BOOL:
                        return GgufValue.of(type, buf.get() != 0);
                    case STRING:
                        return GgufValue.of(type, string("value of " + key));
                    case ARRAY:
                        return array(key);
                    default:
                        throw new AssertionError(type);
                }
            } catch (BufferUnderflowException e) {
                throw truncated("value of " + key, type.size());
            }
        }

        private GgufValue array(String key) throws ModelFormatException {
            int elementId = int32("element type of " + key);
            GgufValueType et = GgufValueType.byId(elementId);
            if (et == null) {
                throw new ModelFormatException(
                        String.format(
                                "%s: metadata array '%s' has unknown element type id %d",
                                path, key, elementId));
            }
            int n = (int) count("length of " + key, Math.max(1, et.size()));
            switch (et) {
                case UINT8:
                case INT8:
                    {
                        byte[] a = new byte[n];
                        buf.get(a);
                        return GgufValue.array(et, a);
                    }
                case BOOL:
                    {
                        boolean[] a = new boolean[n];
                        for (int i = 0; i < n; i++) {
                            a[i] = buf.get() != 0;
                        }
                        return GgufValue.array(et, a);
                    }
                case UINT16:
                case INT16:
                    {
                        short[] a = new short[n];
                        buf.asShortBuffer().get(a);
                        buf.position(buf.position() + 2 * n);
                        return GgufValue.array(et, a);
                    }
                case UINT32:
                case INT32:
                    {
                        int[] a = new int[n];
                        buf.asIntBuffer().get(a);
                        buf.position(buf.position() + 4 * n);
                        return GgufValue.array(et, a);
                    }
                case UINT64:
                case INT64:
                    {
                        long[] a = new long[n];
                        buf.asLongBuffer().get(a);
                        buf.position(buf.position() + 8 * n);
                        return GgufValue.array(et, a);
                    }
                case FLOAT32:
                    {
                        float[] a = new float[n];
                        buf.asFloatBuffer().get(a);
                        buf.position(buf.position() + 4 * n);
                        return GgufValue.array(et, a);
                    }
                case FLOAT64:
                    {
                        double[] a = new double[n];
                        buf.asDoubleBuffer().get(a);
                        buf.position(buf.position() + 8 * n);
                        return GgufValue.array(et, a);
                    }
                case STRING:
                    {
                        String[] a = new String[n];
                        for (int i = 0; i < n; i++) {
                            a[i] = string("element " + i + " of " + key);
                        }
                        return GgufValue.array(et, a);
                    }
                case ARRAY:
                    {
                        GgufValue[] a = new GgufValue[n];
                        for (int i = 0; i < n; i++) {
                            a[i] = array(key + "[" + i + "]");
                        }
                        return GgufValue.array(et, a);
                    }
                default:
                    throw new AssertionError(et);
            }
        }
    }
}
