package io.kvstream.schema.codec;

/** The message's writer schema fingerprint is none of the versions this reader knows. */
public class UnknownSchemaException extends MessageDecodingException {

    private static final long serialVersionUID = 1L;

    private final long fingerprint;

    public UnknownSchemaException(long fingerprint, SchemaHistory known) {
        super(
                "Unknown schema fingerprint " + SchemaHistory.hex(fingerprint) + " for "
                        + known.fullName() + "; this reader knows " + known.describeVersions()
                        + ". A newer writer? Deploy readers with the new schema version first.");
        this.fingerprint = fingerprint;
    }

    public long fingerprint() {
        return fingerprint;
    }
}
