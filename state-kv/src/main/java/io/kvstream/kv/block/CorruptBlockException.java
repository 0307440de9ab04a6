package io.kvstream.kv.block;

/**
 * A stored block (or the session's metadata) cannot be used: checksum mismatch, unknown format
 * version, truncation, or a layout that does not match the cache. The caller should drop the
 * session's stored cache and recompute it from the token history.
 */
public final class CorruptBlockException extends Exception {

    private static final long serialVersionUID = 1L;

    /** Block index used when the session metadata, not a block, is at fault. */
    public static final int SESSION_META = -1;

    private final String session;
    private final int block;

    public CorruptBlockException(String session, int block, String reason) {
        super(String.format(
                "KV cache of session '%s', %s: %s",
                session, block == SESSION_META ? "session metadata" : "block " + block, reason));
        this.session = session;
        this.block = block;
    }

    public String session() {
        return session;
    }

    /** The block's index, or {@link #SESSION_META}. */
    public int block() {
        return block;
    }
}
