package io.kvstream.kv.state;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkNotNull;

import javax.annotation.Nullable;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * What a session stores beside its blocks: enough to check the blocks against, to know which
 * weights computed them, and, when they cannot be used, to recompute the cache from the tokens.
 *
 * @param tokens tokens the cache has been fed
 * @param nextPosition RoPE position of the next token
 * @param spec the cache's canonical {@code --kv} spec
 * @param formatVersion block format version the blocks were written with
 * @param model the fingerprint of the model that computed the blocks; empty for state written
 *     before kvstream recorded it
 * @param historyLength token ids in the session's history, stored in {@link HistoryChunks}
 * @param inlineHistory the history as the first state format stored it, inside this record; null
 *     for state written since, where it lives in chunks so a turn writes only what it adds
 */
public record SessionMeta(
        int tokens, int nextPosition, String spec, int formatVersion, String model, int historyLength,
        @Nullable int[] inlineHistory) {

    public SessionMeta {
        checkArgument(tokens >= 0 && nextPosition >= 0, "negative tokens %s or position %s", tokens, nextPosition);
        checkArgument(historyLength >= 0, "negative history length %s", historyLength);
        checkNotNull(spec);
        checkNotNull(model);
        checkArgument(inlineHistory == null || inlineHistory.length == historyLength,
                "inline history of %s ids for a length of %s", inlineHistory == null ? 0 : inlineHistory.length,
                historyLength);
    }

    /** State as it is written now: the history is in chunks beside it. */
    public static SessionMeta of(
            int tokens, int nextPosition, String spec, int formatVersion, String model, int historyLength) {
        return new SessionMeta(tokens, nextPosition, spec, formatVersion, model, historyLength, null);
    }

    /** Bytes {@link SessionMetaSerializer} writes for a meta with this spec and model fingerprint. */
    public static int serializedSize(String spec, String model) {
        return 4 + 4 + 4 + 2 + utf8(spec) + 4 + 2 + utf8(model) + 4;
    }

    public int serializedSize() {
        return inlineHistory != null
                ? 4 + 4 + 2 + utf8(spec) + 4 + 4 + 4 * historyLength
                : serializedSize(spec, model);
    }

    private static int utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof SessionMeta)) {
            return false;
        }
        SessionMeta m = (SessionMeta) o;
        return tokens == m.tokens && nextPosition == m.nextPosition && formatVersion == m.formatVersion
                && historyLength == m.historyLength && spec.equals(m.spec) && model.equals(m.model)
                && Arrays.equals(inlineHistory, m.inlineHistory);
    }

    @Override
    public int hashCode() {
        return Objects.hash(tokens, nextPosition, spec, formatVersion, model, historyLength)
                * 31 + Arrays.hashCode(inlineHistory);
    }

    @Override
    public String toString() {
        return "SessionMeta{tokens=" + tokens + ", nextPosition=" + nextPosition + ", spec=" + spec
                + ", formatVersion=" + formatVersion + ", model=" + model + ", history=" + historyLength + " ids"
                + (inlineHistory != null ? " inline" : "") + "}";
    }
}
