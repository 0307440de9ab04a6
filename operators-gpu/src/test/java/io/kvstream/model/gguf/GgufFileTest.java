package io.kvstream.model.gguf;

import io.kvstream.model.ModelFormatException;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.testing.RefModel;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GgufFileTest {

    private static final String TENSOR = "blk.0.weight";

    @TempDir Path tmp;

    @Test
    void readsReferenceModelHeader() throws IOException {
        try (GgufFile gguf = GgufFile.open(RefModel.file("refmodel-f16.gguf"))) {
            assertThat(gguf.version()).isEqualTo(3);
            assertThat(gguf.alignment()).isEqualTo(32);
            assertThat(gguf.dataOffset() % 32).isZero();
            assertThat(gguf.getString("general.architecture")).isEqualTo("llama");
            assertThat(gguf.getInt("llama.embedding_length")).isEqualTo(256);
            assertThat(gguf.getFloat("llama.attention.layer_norm_rms_epsilon")).isEqualTo(1e-5f);
            assertThat(gguf.getStringList("tokenizer.ggml.tokens")).hasSize(2048);
            assertThat(gguf.getIntArray("tokenizer.ggml.token_type")).hasSize(2048);
            // 1 + 8 * 9 + 2 text tensors.
            assertThat(gguf.tensorInfos()).hasSize(75);
            GgufTensorInfo q = gguf.tensorInfo("blk.0.attn_q.weight");
            assertThat(q.dims()).containsExactly(256, 256);
            assertThat(q.type()).isEqualTo(GgmlType.F16);
            GgufTensorInfo norm = gguf.tensorInfo("output_norm.weight");
            assertThat(norm.dims()).containsExactly(256);
            assertThat(norm.type()).isEqualTo(GgmlType.F32);
        }
    }

    @Test
    void metadataOfEveryTypeRoundTrips() throws IOException {
        GgufWriter w = new GgufWriter(64);
        w.put("u8", GgufValue.of(GgufValueType.UINT8, (byte) 200));
        w.put("i8", GgufValue.of(GgufValueType.INT8, (byte) -5));
        w.put("u16", GgufValue.of(GgufValueType.UINT16, (short) 60000));
        w.put("i16", GgufValue.of(GgufValueType.INT16, (short) -300));
        w.putUInt32("u32", 0xFFFF_FFF0);
        w.putInt32("i32", -70000);
        w.putFloat32("f32", 1.5f);
        w.putBool("bool", true);
        w.putString("str", "héllo ✓");
        w.putUInt64("u64", 1L << 40);
        w.put("i64", GgufValue.of(GgufValueType.INT64, -(1L << 40)));
        w.put("f64", GgufValue.of(GgufValueType.FLOAT64, Math.PI));
        w.put("a.u8", GgufValue.array(GgufValueType.UINT8, new byte[] {1, (byte) 255}));
        w.put("a.i16", GgufValue.array(GgufValueType.INT16, new short[] {-1, 2}));
        w.putInt32Array("a.i32", new int[] {3, -4, 5});
        w.put("a.u64", GgufValue.array(GgufValueType.UINT64, new long[] {7L, 1L << 50}));
        w.putFloat32Array("a.f32", new float[] {0.25f, -8f});
        w.put("a.f64", GgufValue.array(GgufValueType.FLOAT64, new double[] {1e300}));
        w.put("a.bool", GgufValue.array(GgufValueType.BOOL, new boolean[] {true, false}));
        w.putStringArray("a.str", List.of("a", "", "ü"));
        w.put(
                "a.nested",
                GgufValue.array(
                        GgufValueType.ARRAY,
                        new GgufValue[] {
                            GgufValue.array(GgufValueType.INT32, new int[] {1}),
                            GgufValue.array(GgufValueType.STRING, new String[] {"x", "y"})
                        }));
        w.addVector("v", GgmlType.F32, new float[] {1, 2, 3});
        Path file = tmp.resolve("types.gguf");
        w.write(file);

        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.alignment()).isEqualTo(64);
            assertThat(g.dataOffset() % 64).isZero();
            assertThat(g.getInt("u8")).isEqualTo(200);
            assertThat(g.getInt("i8")).isEqualTo(-5);
            assertThat(g.getInt("u16")).isEqualTo(60000);
            assertThat(g.getInt("i16")).isEqualTo(-300);
            assertThat(g.getLong("u32")).isEqualTo(0xFFFF_FFF0L);
            assertThatThrownBy(() -> g.getInt("u32")).hasMessageContaining("'u32'");
            assertThat(g.getInt("i32")).isEqualTo(-70000);
            assertThat(g.getFloat("f32")).isEqualTo(1.5f);
            assertThat(g.getBoolean("bool")).isTrue();
            assertThat(g.getString("str")).isEqualTo("héllo ✓");
            assertThat(g.getLong("u64")).isEqualTo(1L << 40);
            assertThat(g.getLong("i64")).isEqualTo(-(1L << 40));
            assertThat(g.get("f64").value()).isEqualTo(Math.PI);
            assertThat(g.getIntArray("a.u8")).containsExactly(1, 255);
            assertThat(g.getIntArray("a.i16")).containsExactly(-1, 2);
            assertThat(g.getIntArray("a.i32")).containsExactly(3, -4, 5);
            assertThat((long[]) g.get("a.u64").value()).containsExactly(7L, 1L << 50);
            assertThat((float[]) g.get("a.f32").value()).containsExactly(0.25f, -8f);
            assertThat((double[]) g.get("a.f64").value()).containsExactly(1e300);
            assertThat((boolean[]) g.get("a.bool").value()).containsExactly(true, false);
            assertThat(g.getStringList("a.str")).containsExactly("a", "", "ü");
            GgufValue[] nested = (GgufValue[]) g.get("a.nested").value();
            assertThat(nested[0].value()).isEqualTo(new int[] {1});
            assertThat(nested[1].value()).isEqualTo(new String[] {"x", "y"});
            assertThat(g.floats("v", 3)).containsExactly(1f, 2f, 3f);
            // Everything written is read back equal, in order.
            assertThat(g.metadata().keySet())
                    .startsWith("general.alignment", "u8", "i8", "u16");
            assertThat(g.get("a.nested"))
                    .isEqualTo(
                            GgufValue.array(
                                    GgufValueType.ARRAY,
                                    new GgufValue[] {
                                        GgufValue.array(GgufValueType.INT32, new int[] {1}),
                                        GgufValue.array(
                                                GgufValueType.STRING, new String[] {"x", "y"})
                                    }));
            assertThatThrownBy(() -> g.getString("missing"))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(file.toString())
                    .hasMessageContaining("'missing'");
        }
    }

    @Test
    void tensorsRoundTripThroughWriter() throws IOException {
        float[] values = new float[3 * 64];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) Math.sin(i * 0.37) * 3;
        }
        Path file = tmp.resolve("t.gguf");
        new GgufWriter()
                .addMatrix("f32", GgmlType.F32, 3, 64, values)
                .addMatrix("f16", GgmlType.F16, 3, 64, values)
                .addMatrix("bf16", GgmlType.BF16, 3, 64, values)
                .addMatrix("q8", GgmlType.Q8_0, 3, 64, values)
                .write(file);
        try (GgufFile g = GgufFile.open(file)) {
            FloatTensor f32 = g.tensor("f32", 3, 64);
            FloatTensor f16 = g.tensor("f16", 3, 64);
            FloatTensor bf16 = g.tensor("bf16", 3, 64);
            FloatTensor q8 = g.tensor("q8", 3, 64);
            float[] row = new float[64];
            for (int r = 0; r < 3; r++) {
                f32.dequantizeRow(r, row, 0);
                assertThat(row).containsExactly(Arrays.copyOfRange(values, r * 64, r * 64 + 64));
                for (int c = 0; c < 64; c++) {
                    float v = values[r * 64 + c];
                    assertThat(f16.get(r, c)).isCloseTo(v, org.assertj.core.data.Offset.offset(3e-3f));
                    assertThat(bf16.get(r, c)).isCloseTo(v, org.assertj.core.data.Offset.offset(2e-2f));
                    // Q8_0 step is max|x|/127 <= 3/127: half a step, plus the scale's fp16
                    // rounding (2^-11 relative) times up to 127 steps.
                    assertThat(q8.get(r, c))
                            .isCloseTo(
                                    v,
                                    org.assertj.core.data.Offset.offset(
                                            0.5f * 3f / 127 + 3f * 0x1p-11f));
                }
            }
        }
    }

    // ---------------------------------------------------------------------------- bad files

    /** A valid file with one F32 matrix of 2 x 256 named {@link #TENSOR}. */
    private Path validFile() throws IOException {
        Path file = tmp.resolve("model.gguf");
        new GgufWriter()
                .putString("general.architecture", "test")
                .addMatrix(TENSOR, GgmlType.F32, 2, 256, new float[512])
                .write(file);
        return file;
    }

    /** Offset of the tensor info's type field (after name, n_dims and two dims). */
    private static int typeFieldOffset(byte[] bytes) {
        byte[] name = TENSOR.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i + name.length <= bytes.length; i++) {
            if (Arrays.equals(bytes, i, i + name.length, name, 0, name.length)) {
                return i + name.length + 4 + 2 * 8;
            }
        }
        throw new AssertionError("tensor name not found");
    }

    private static void putInt(byte[] bytes, int at, int value) {
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(at, value);
    }

    @Test
    void wrongMagicNamesFile() throws IOException {
        Path file = validFile();
        byte[] b = Files.readAllBytes(file);
        b[3] = 'X';
        Files.write(file, b);
        assertThatThrownBy(() -> GgufFile.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("not a GGUF file");
    }

    @Test
    void unsupportedVersion() throws IOException {
        Path file = validFile();
        byte[] b = Files.readAllBytes(file);
        putInt(b, 4, 1);
        Files.write(file, b);
        assertThatThrownBy(() -> GgufFile.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("version 1");
    }

    @Test
    void truncatedHeaderNamesTensorBeingRead() throws IOException {
        Path file = validFile();
        byte[] b = Files.readAllBytes(file);
        // Cut inside the tensor's dimensions.
        Files.write(file, Arrays.copyOf(b, typeFieldOffset(b) - 12));
        assertThatThrownBy(() -> GgufFile.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("truncated")
                .hasMessageContaining(TENSOR);
    }

    @Test
    void truncatedHeaderInMetadata() throws IOException {
        Path file = validFile();
        byte[] b = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(b, 30));
        assertThatThrownBy(() -> GgufFile.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("truncated");
    }

    @Test
    void truncatedTensorDataNamesTensor() throws IOException {
        Path file = validFile();
        byte[] b = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(b, b.length - 100));
        assertThatThrownBy(() -> GgufFile.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("truncated")
                .hasMessageContaining("'" + TENSOR + "'")
                .hasMessageContaining("file has " + (b.length - 100) + " bytes");
    }

    @Test
    void unknownTensorTypeIdNamesTensor() throws IOException {
        Path file = validFile();
        byte[] b = Files.readAllBytes(file);
        putInt(b, typeFieldOffset(b), 99);
        Files.write(file, b);
        assertThatThrownBy(() -> GgufFile.open(file))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("'" + TENSOR + "'")
                .hasMessageContaining("type id 99");
    }

    @Test
    void unsupportedTensorTypeNamesTensor() throws IOException {
        Path file = validFile();
        byte[] b = Files.readAllBytes(file);
        // Q5_K: known to GGML (so sizes are checked) but not computed with here.
        putInt(b, typeFieldOffset(b), GgmlType.Q5_K.id());
        Files.write(file, b);
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.tensorInfo(TENSOR).type()).isEqualTo(GgmlType.Q5_K);
            assertThatThrownBy(() -> g.tensor(TENSOR))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(file.toString())
                    .hasMessageContaining("'" + TENSOR + "'")
                    .hasMessageContaining("Q5_K");
        }
    }

    @Test
    void tensorOver2GiBFailsClearlyButFileOpens() throws IOException {
        Path file = validFile();
        byte[] b = Files.readAllBytes(file);
        // Claim 2^21 + 1 rows of 256 floats: 2 GiB + 1 KiB, past what one mapping can hold.
        int rowsField = typeFieldOffset(b) - 8;
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(rowsField, (1L << 21) + 1);
        Files.write(file, b);
        // The valid file ends with the tensor's 2 x 256 floats (already aligned).
        long dataOffset = b.length - 2 * 256 * 4;
        // A sparse extension makes the file long enough without writing 2 GiB.
        try (java.io.RandomAccessFile raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(dataOffset + ((1L << 21) + 1) * 256 * 4);
        }
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.tensorInfo(TENSOR).byteSize()).isGreaterThan(Integer.MAX_VALUE);
            assertThatThrownBy(() -> g.tensor(TENSOR))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(file.toString())
                    .hasMessageContaining("'" + TENSOR + "'")
                    .hasMessageContaining("over 2 GiB");
        }
    }

    @Test
    void missingTensorNamesFileAndTensor() throws IOException {
        Path file = validFile();
        try (GgufFile g = GgufFile.open(file)) {
            assertThatThrownBy(() -> g.tensor("blk.0.attn_q.weight"))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(file.toString())
                    .hasMessageContaining("'blk.0.attn_q.weight' is missing");
        }
    }

    @Test
    void wrongShapeNamesExpectation() throws IOException {
        Path file = validFile();
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.tensor(TENSOR, 2, 256).rows()).isEqualTo(2);
            assertThatThrownBy(() -> g.tensor(TENSOR, 256, 2))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(file.toString())
                    .hasMessageContaining("'" + TENSOR + "'")
                    .hasMessageContaining("[256, 2]")
                    .hasMessageContaining("expected [2, 256]");
            assertThatThrownBy(() -> g.floats(TENSOR, 10))
                    .hasMessageContaining("expected 10 elements");
        }
    }
}
