package io.kvstream.schema.codec;

import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

import javax.annotation.Nullable;

import java.io.IOException;
import java.util.Collection;
import java.util.Map;

/**
 * Guards against a trap of Avro's schema resolution: a writer union branch the reader does not
 * know (say a new payload record {@code Cancel}) is silently read as the first reader branch it
 * structurally fits. With {@code EndOfSession}, whose only field has a default, any unknown record
 * fits, so an old pipeline would end sessions on events it does not understand. This check rejects
 * such a message instead.
 *
 * <p>Only writer versions that {@link SchemaCompatibility} finds not fully readable need it (it
 * matches records by name, unlike resolution); for those each message is decoded once more with the
 * writer's own schema to see which branches it actually uses.
 */
final class UnionBranchCheck {

    private final Schema writer;
    private final Schema reader;

    private UnionBranchCheck(Schema writer, Schema reader) {
        this.writer = writer;
        this.reader = reader;
    }

    /** A check for messages of {@code writer} read as {@code reader}, or null if none is needed. */
    @Nullable
    static UnionBranchCheck forVersions(Schema writer, Schema reader) {
        SchemaCompatibility.SchemaCompatibilityType type =
                SchemaCompatibility.checkReaderWriterCompatibility(reader, writer).getType();
        return type == SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE
                ? null
                : new UnionBranchCheck(writer, reader);
    }

    /** Throws if the message body uses a named union branch the reader has no branch for. */
    void verify(byte[] message, int bodyOffset) throws IOException {
        BinaryDecoder decoder =
                DecoderFactory.get()
                        .binaryDecoder(message, bodyOffset, message.length - bodyOffset, null);
        Object datum = new GenericDatumReader<>(writer, writer, GenericData.get()).read(null, decoder);
        walk(writer, reader, datum, writer.getName());
    }

    private static void walk(Schema w, Schema r, @Nullable Object datum, String path)
            throws MessageDecodingException {
        switch (w.getType()) {
            case UNION:
                {
                    Schema branch = w.getTypes().get(GenericData.get().resolveUnion(w, datum));
                    Schema readerBranch = r;
                    if (r.getType() == Schema.Type.UNION) {
                        readerBranch = readerBranchFor(branch, r);
                        if (readerBranch == null) {
                            if (isNamed(branch)) {
                                throw new MessageDecodingException(
                                        "Cannot read " + path + ": the writer's "
                                                + branch.getFullName()
                                                + " is not one of this reader's types "
                                                + r.getTypes());
                            }
                            return; // a primitive: plain resolution promotes or rejects it
                        }
                    }
                    walk(branch, readerBranch, datum, path);
                    return;
                }
            case RECORD:
                if (r.getType() != Schema.Type.RECORD) {
                    return;
                }
                GenericRecord record = (GenericRecord) datum;
                for (Schema.Field wf : w.getFields()) {
                    Schema.Field rf = readerField(r, wf);
                    if (rf != null) {
                        walk(wf.schema(), rf.schema(), record.get(wf.pos()), path + "." + wf.name());
                    }
                }
                return;
            case ARRAY:
                if (r.getType() == Schema.Type.ARRAY) {
                    for (Object item : (Collection<?>) datum) {
                        walk(w.getElementType(), r.getElementType(), item, path + "[]");
                    }
                }
                return;
            case MAP:
                if (r.getType() == Schema.Type.MAP) {
                    for (Object value : ((Map<?, ?>) datum).values()) {
                        walk(w.getValueType(), r.getValueType(), value, path + "{}");
                    }
                }
                return;
            default:
                // Primitives, enums and fixed: resolution itself checks them.
        }
    }

    private static boolean isNamed(Schema s) {
        return s.getType() == Schema.Type.RECORD
                || s.getType() == Schema.Type.ENUM
                || s.getType() == Schema.Type.FIXED;
    }

    @Nullable
    private static Schema readerBranchFor(Schema writerBranch, Schema readerUnion) {
        for (Schema candidate : readerUnion.getTypes()) {
            if (candidate.getType() != writerBranch.getType()) {
                continue;
            }
            if (!isNamed(writerBranch)
                    || candidate.getFullName().equals(writerBranch.getFullName())
                    || candidate.getAliases().contains(writerBranch.getFullName())) {
                return candidate;
            }
        }
        return null;
    }

    @Nullable
    private static Schema.Field readerField(Schema reader, Schema.Field writerField) {
        Schema.Field byName = reader.getField(writerField.name());
        if (byName != null) {
            return byName;
        }
        for (Schema.Field f : reader.getFields()) {
            if (f.aliases().contains(writerField.name())) {
                return f;
            }
        }
        return null;
    }
}
