package io.kvstream.pipeline.operator;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.state.HistoryChunks;

import java.util.Arrays;

/**
 * A session whose decoded cache is in memory, with the token ids it has been fed (what {@link
 * io.kvstream.kv.state.SessionMeta} stores for recomputation).
 */
final class HotSession {

    final String id;
    final CompressedKvCache cache;
    private int[] history;
    private int historyLength;
    /** {@link CompressedKvCache#bytesInMemory()} when last counted into the hot set. */
    long countedBytes;
    /** History to prefill before the next prompt: set when stored blocks could not be used. */
    int[] recompute;
    /** Why the session's stored state was lost, to tell the client once; null when it was not. */
    String lost;
    /** Ids of the history already in state: the next store writes the chunks from there on. */
    int storedHistory;

    HotSession(String id, CompressedKvCache cache, int[] history) {
        this.id = id;
        this.cache = cache;
        this.history = history.length == 0 ? new int[64] : history.clone();
        this.historyLength = history.length;
    }

    void append(int[] tokens, int from, int n) {
        if (historyLength + n > history.length) {
            history = Arrays.copyOf(history, Math.max(historyLength + n, history.length * 2));
        }
        System.arraycopy(tokens, from, history, historyLength, n);
        historyLength += n;
    }

    int historyLength() {
        return historyLength;
    }

    int[] history() {
        return Arrays.copyOf(history, historyLength);
    }

    /** Chunk {@code index} of the history, copied without copying the rest. */
    int[] historyChunk(int index) {
        return HistoryChunks.chunk(history, historyLength, index);
    }
}
