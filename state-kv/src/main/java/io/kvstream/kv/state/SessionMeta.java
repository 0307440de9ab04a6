package io.kvstream.kv.state;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkNotNull;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * What a session stores beside its blocks: enough to check the blocks against and, when they are
 * lost or corrupt, to recompute the cache from the tokens.
 *
 * @param tokens tokens the cache has been fed
 * @param nextPosition RoPE position of the next token
 * @param spec the cache's canonical {@code --kv} spec
 * @param formatVersion block format version the blocks were written with
 * @param history the session's token ids, for recomputation
 */
public record SessionMeta(int tokens, int nextPosition, String spec, int formatVersion, int[] history) {

    public SessionMeta {
        checkArgument(tokens >= 0 && nextPosition >= 0, "negative tokens %s or position %s", tokens, nextPosition);
        checkNotNull(spec);
        checkNotNull(history);
    }

    /** Bytes {@link SessionMetaSerializer} writes for a meta with this spec and history length. */
    public static int serializedSize(String spec, int historyLength) {
        return 4 + 4 + 2 + spec.getBytes(StandardCharsets.UTF_8).length + 4 + 4 + 4 * historyLength;
    }

    public int serializedSize() {
        return serializedSize(spec, history.length);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof SessionMeta)) {
            return false;
        }
        SessionMeta m = (SessionMeta) o;
        return tokens == m.tokens && nextPosition == m.nextPosition && formatVersion == m.formatVersion
                && spec.equals(m.spec) && Arrays.equals(history, m.history);
    }

    @Override
    public int hashCode() {
        return ((tokens * 31 + nextPosition) * 31 + spec.hashCode()) * 31 + Arrays.hashCode(history);
    }

    @Override
    public String toString() {
        return "SessionMeta{tokens=" + tokens + ", nextPosition=" + nextPosition + ", spec=" + spec
                + ", formatVersion=" + formatVersion + ", history=" + history.length + " ids}";
    }
}
