package io.kvstream.schema.codec;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Objects;

/**
 * Avro single-object encoding of one record type: each message is {@code C3 01}, the writer
 * schema's 8-byte CRC-64-AVRO fingerprint (little-endian), then the Avro binary body. Decoding
 * looks the fingerprint up in the {@link SchemaHistory} and resolves the writer's version to this
 * codec's reader schema, so messages of any known version decode into the current class.
 *
 * <p>Thread-safe: Avro's message encoder and decoder keep their buffers per thread.
 */
public final class SingleObjectCodec<T> {

    /** Bytes before the body: 2 marker bytes and the 8-byte fingerprint. */
    public static final int HEADER_LENGTH = 10;

    private static final byte MAGIC_0 = (byte) 0xC3;
    private static final byte MAGIC_1 = (byte) 0x01;

    private final Schema schema;
    private final SchemaHistory history;
    private final BinaryMessageEncoder<T> encoder;
    private final BinaryMessageDecoder<T> decoder;
    /** Per writer version (index 0 is v1): the extra check it needs, or null. */
    private final UnionBranchCheck[] branchChecks;

    private SingleObjectCodec(GenericData model, Schema schema, SchemaHistory history) {
        this.schema = Objects.requireNonNull(schema, "schema");
        this.history = Objects.requireNonNull(history, "history");
        if (!history.contains(schema)) {
            // Writing a version no history file describes would make messages no other reader can
            // read back: make the missing history file a build failure instead.
            throw new IllegalStateException(
                    "The schema of " + schema.getFullName() + " (fingerprint "
                            + SchemaHistory.hex(SchemaHistory.fingerprint(schema))
                            + ") is not in its history (" + history.describeVersions()
                            + "): add it as " + SchemaHistory.RESOURCE_DIR + schema.getName() + "-v"
                            + (history.versions().size() + 1) + ".avsc");
        }
        this.encoder = new BinaryMessageEncoder<>(model, schema);
        this.decoder = new BinaryMessageDecoder<>(model, schema, history);
        List<Schema> versions = history.versions();
        this.branchChecks = new UnionBranchCheck[versions.size()];
        for (int i = 0; i < versions.size(); i++) {
            branchChecks[i] = UnionBranchCheck.forVersions(versions.get(i), schema);
        }
    }

    /** A codec for a generated class, with the history shipped in the jar. */
    public static <T extends SpecificRecord> SingleObjectCodec<T> forSpecific(Class<T> type) {
        SpecificData model = SpecificData.getForClass(type);
        Schema schema = model.getSchema(type);
        return new SingleObjectCodec<>(
                model,
                schema,
                SchemaHistory.load(schema.getFullName(), schema.getName(), type.getClassLoader()));
    }

    /** A codec for a generated class that knows the given versions. */
    public static <T extends SpecificRecord> SingleObjectCodec<T> forSpecific(
            Class<T> type, SchemaHistory history) {
        SpecificData model = SpecificData.getForClass(type);
        return new SingleObjectCodec<>(model, model.getSchema(type), history);
    }

    /** A codec that reads and writes {@link GenericRecord}s of {@code schema}. */
    public static SingleObjectCodec<GenericRecord> forGeneric(Schema schema, SchemaHistory history) {
        return new SingleObjectCodec<>(GenericData.get(), schema, history);
    }

    /** The schema this codec writes, and reads into. */
    public Schema schema() {
        return schema;
    }

    public SchemaHistory history() {
        return history;
    }

    /**
     * Encodes one record.
     *
     * @throws IllegalArgumentException if the record does not fit its schema (e.g. a required field
     *     is null)
     */
    public byte[] encode(T record) {
        Objects.requireNonNull(record, "record");
        ByteArrayOutputStream out = new ByteArrayOutputStream(128);
        try {
            encoder.encode(record, out);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException(
                    "Cannot encode " + schema.getFullName() + ": " + e.getMessage(), e);
        }
        return out.toByteArray();
    }

    /**
     * Decodes one message written with any version in the history.
     *
     * @throws UnknownSchemaException if the writer's fingerprint is not in the history
     * @throws MessageDecodingException if the message is not single-object encoded or its body is
     *     malformed
     */
    public T decode(byte[] message) throws MessageDecodingException {
        if (message == null) {
            throw new MessageDecodingException(
                    "No " + schema.getFullName() + " message: the value is null (a tombstone?)");
        }
        long fingerprint = readFingerprint(message);
        int version = history.versionOf(fingerprint);
        if (version < 0) {
            throw new UnknownSchemaException(fingerprint, history);
        }
        try {
            UnionBranchCheck check = branchChecks[version - 1];
            if (check != null) {
                check.verify(message, HEADER_LENGTH);
            }
            return decoder.decode(message);
        } catch (MessageDecodingException e) {
            throw new MessageDecodingException(
                    "Unreadable " + schema.getFullName() + " message (writer v" + version + "): "
                            + e.getMessage(),
                    e);
        } catch (IOException | RuntimeException e) {
            // RuntimeException too: Avro reports malformed data as AvroRuntimeException,
            // ArrayIndexOutOfBounds, NegativeArraySize, ... none of which may escape as a crash.
            throw new MessageDecodingException(
                    "Malformed " + schema.getFullName() + " message (writer v" + version + ", "
                            + message.length + " bytes): " + e,
                    e);
        }
    }

    /**
     * The writer schema fingerprint in a message's header.
     *
     * @throws MessageDecodingException if the message does not start with a single-object header
     */
    public static long readFingerprint(byte[] message) throws MessageDecodingException {
        if (message.length < HEADER_LENGTH || message[0] != MAGIC_0 || message[1] != MAGIC_1) {
            throw new MessageDecodingException(
                    "Not an Avro single-object encoded message (expected C3 01 and an 8-byte"
                            + " fingerprint, got " + message.length + " bytes starting "
                            + hexPrefix(message) + ")");
        }
        long fingerprint = 0;
        for (int i = HEADER_LENGTH - 1; i >= 2; i--) {
            fingerprint = (fingerprint << 8) | (message[i] & 0xFFL);
        }
        return fingerprint;
    }

    private static String hexPrefix(byte[] message) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(message.length, 4); i++) {
            sb.append(String.format("%02X", message[i] & 0xFF));
        }
        return sb.length() == 0 ? "(empty)" : sb.toString();
    }
}
