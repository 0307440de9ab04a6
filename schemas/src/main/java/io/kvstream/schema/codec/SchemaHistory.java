package io.kvstream.schema.codec;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.message.SchemaStore;

import javax.annotation.Nullable;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Every version of one record schema that was ever written to Kafka, looked up by the CRC-64-AVRO
 * fingerprint that single-object encoding puts in front of each message.
 *
 * <p>Without a schema registry this is how a reader learns the writer's schema: the versions ship
 * in the jar as {@code io/kvstream/schema/history/<Name>-v<N>.avsc}, numbered from 1 without gaps.
 * A schema change therefore adds a new history file; readers must be deployed with it before
 * writers start using it (a reader that lacks the writer's version fails with {@link
 * UnknownSchemaException}, it never guesses).
 */
public final class SchemaHistory implements SchemaStore {

    /** Classpath folder of the history files. */
    public static final String RESOURCE_DIR = "io/kvstream/schema/history/";

    private final String fullName;
    private final List<Schema> versions;
    private final Map<Long, Integer> versionByFingerprint;

    private SchemaHistory(String fullName, List<Schema> versions) {
        if (versions.isEmpty()) {
            throw new IllegalArgumentException("No schema version for " + fullName);
        }
        this.fullName = fullName;
        this.versions = Collections.unmodifiableList(new ArrayList<>(versions));
        Map<Long, Integer> byFingerprint = new LinkedHashMap<>();
        for (int i = 0; i < versions.size(); i++) {
            Schema schema = versions.get(i);
            if (!fullName.equals(schema.getFullName())) {
                throw new IllegalArgumentException(
                        "Version " + (i + 1) + " of " + fullName + " is named " + schema.getFullName());
            }
            // Two identical versions are harmless: the first one wins.
            byFingerprint.putIfAbsent(fingerprint(schema), i + 1);
        }
        this.versionByFingerprint = Collections.unmodifiableMap(byFingerprint);
    }

    /** The versions given, oldest first. */
    public static SchemaHistory of(Schema... versions) {
        Objects.requireNonNull(versions, "versions");
        if (versions.length == 0) {
            throw new IllegalArgumentException("At least one schema version is needed");
        }
        return new SchemaHistory(versions[0].getFullName(), List.of(versions));
    }

    /**
     * Loads {@code <simpleName>-v1.avsc}, {@code -v2.avsc}, ... from {@link #RESOURCE_DIR} until one
     * is missing.
     */
    public static SchemaHistory load(Schema current) {
        return load(current.getFullName(), current.getName(), SchemaHistory.class.getClassLoader());
    }

    /** As {@link #load(Schema)}, with the history files looked up in the given class loader. */
    public static SchemaHistory load(String fullName, String simpleName, ClassLoader classLoader) {
        List<Schema> versions = new ArrayList<>();
        for (int v = 1; ; v++) {
            String resource = RESOURCE_DIR + simpleName + "-v" + v + ".avsc";
            try (InputStream in = classLoader.getResourceAsStream(resource)) {
                if (in == null) {
                    break;
                }
                // A fresh parser per file: each history file is self-contained.
                versions.add(new Schema.Parser().parse(in));
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read " + resource, e);
            }
        }
        if (versions.isEmpty()) {
            throw new IllegalStateException(
                    "No schema history for " + fullName + ": expected " + RESOURCE_DIR + simpleName
                            + "-v1.avsc on the classpath");
        }
        return new SchemaHistory(fullName, versions);
    }

    /** This history plus one more version, e.g. one only a newer writer knows. */
    public SchemaHistory plus(Schema newer) {
        List<Schema> all = new ArrayList<>(versions);
        all.add(newer);
        return new SchemaHistory(fullName, all);
    }

    /** The CRC-64-AVRO fingerprint of the schema's parsing canonical form, as in message headers. */
    public static long fingerprint(Schema schema) {
        return SchemaNormalization.parsingFingerprint64(schema);
    }

    public String fullName() {
        return fullName;
    }

    /** All versions, oldest (v1) first. */
    public List<Schema> versions() {
        return versions;
    }

    public Schema latest() {
        return versions.get(versions.size() - 1);
    }

    /** The 1-based version number of the schema with this fingerprint, or -1 when unknown. */
    public int versionOf(long fingerprint) {
        Integer version = versionByFingerprint.get(fingerprint);
        return version == null ? -1 : version;
    }

    /** Whether a schema with the same parsing canonical form is one of the versions. */
    public boolean contains(Schema schema) {
        return versionOf(fingerprint(schema)) > 0;
    }

    @Override
    @Nullable
    public Schema findByFingerprint(long fingerprint) {
        Integer version = versionByFingerprint.get(fingerprint);
        return version == null ? null : versions.get(version - 1);
    }

    /** "v1 (0x...), v2 (0x...)": for error messages. */
    public String describeVersions() {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<Long, Integer> e : versionByFingerprint.entrySet()) {
            if (sb.length() > 0) {
                sb.append(", ");
            }
            sb.append('v').append(e.getValue()).append(" (").append(hex(e.getKey())).append(')');
        }
        return sb.toString();
    }

    static String hex(long fingerprint) {
        return String.format("0x%016x", fingerprint);
    }

    @Override
    public String toString() {
        return "SchemaHistory{" + fullName + ": " + describeVersions() + '}';
    }
}
