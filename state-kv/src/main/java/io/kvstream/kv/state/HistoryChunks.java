package io.kvstream.kv.state;

import static org.apache.flink.util.Preconditions.checkArgument;

import java.io.IOException;
import java.util.Arrays;
import java.util.Map;

/**
 * A session's token history as fixed chunks of {@link #CHUNK_TOKENS} ids, the map state's values
 * under the chunk's index. Appending rewrites only the last, partial chunk and adds new ones, so a
 * turn's state writes grow with the turn, not with the session.
 */
public final class HistoryChunks {

    public static final int CHUNK_TOKENS = 256;

    private HistoryChunks() {}

    /** The first chunk that appending to a history of {@code storedLength} ids rewrites. */
    public static int firstChanged(int storedLength) {
        checkArgument(storedLength >= 0, "negative length %s", storedLength);
        return storedLength / CHUNK_TOKENS;
    }

    /** Chunks a history of {@code length} ids takes. */
    public static int chunks(int length) {
        return (length + CHUNK_TOKENS - 1) / CHUNK_TOKENS;
    }

    /** Chunk {@code index} of {@code history[0 .. length)}. */
    public static int[] chunk(int[] history, int length, int index) {
        int from = index * CHUNK_TOKENS;
        checkArgument(from < length, "chunk %s starts past the history's %s ids", index, length);
        return Arrays.copyOfRange(history, from, Math.min(length, from + CHUNK_TOKENS));
    }

    /**
     * The history of {@code length} ids from its chunks.
     *
     * @throws IOException naming the chunk that is missing or of the wrong size
     */
    public static int[] join(Map<Integer, int[]> chunks, int length) throws IOException {
        int[] history = new int[length];
        for (int c = 0; c < chunks(length); c++) {
            int[] chunk = chunks.get(c);
            int expected = Math.min(CHUNK_TOKENS, length - c * CHUNK_TOKENS);
            if (chunk == null || chunk.length != expected) {
                throw new IOException(String.format(
                        "token history chunk %d of %d is %s, expected %d ids", c, chunks(length),
                        chunk == null ? "missing" : chunk.length + " ids", expected));
            }
            System.arraycopy(chunk, 0, history, c * CHUNK_TOKENS, expected);
        }
        return history;
    }

    /** Bytes the chunks of a history of {@code length} ids take as values (length prefix and ids). */
    public static long serializedSize(int length) {
        return 4L * chunks(length) + 4L * length;
    }
}
