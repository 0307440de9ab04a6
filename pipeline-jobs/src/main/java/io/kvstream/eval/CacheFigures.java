package io.kvstream.eval;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.KvCache;
import io.kvstream.kv.memory.SessionMemory;

import javax.annotation.Nullable;

/**
 * What the sessions' caches looked like at the end of an eval: how much attention any step
 * covered, and the bytes the working set and the memory tier store per session.
 *
 * @param maxAttended the most slots one step attended over, in any session (retrieved region,
 *     held slots and the step's own tokens)
 * @param workingSetBytes bytes the working set (blocks, metadata, history) stores, mean per session
 * @param memoryBytes bytes the memory tier stores, mean per session
 * @param memoryBytesMax the most any session's memory stores
 * @param memoryBlocksDropped blocks the memory's limit dropped, over all sessions
 * @param retrievals prompt steps that retrieved, over all sessions
 * @param retrievalSeconds time those retrievals took (scoring and decoding blocks)
 * @param retrievalBytesRead bytes of summaries scanned and blocks decoded by those retrievals
 */
public record CacheFigures(
        int maxAttended,
        double workingSetBytes,
        double memoryBytes,
        long memoryBytesMax,
        long memoryBlocksDropped,
        long retrievals,
        double retrievalSeconds,
        long retrievalBytesRead) {

    /** Adds up the caches of finished sessions; null when none is a compressed cache. */
    @Nullable
    public static CacheFigures of(Iterable<KvCache> caches) {
        int sessions = 0;
        int maxAttended = 0;
        long working = 0;
        long memory = 0;
        long memoryMax = 0;
        long dropped = 0;
        long retrievals = 0;
        long nanos = 0;
        long read = 0;
        for (KvCache cache : caches) {
            if (!(cache instanceof CompressedKvCache c)) {
                continue;
            }
            sessions++;
            maxAttended = Math.max(maxAttended, c.maxAttended());
            long mem = c.memoryStoredBytes();
            working += c.storedBytes() - mem;
            memory += mem;
            memoryMax = Math.max(memoryMax, mem);
            SessionMemory m = c.memory();
            if (m != null) {
                dropped += m.droppedBlocks();
                retrievals += m.retrievals();
                nanos += m.retrievalNanos();
                read += m.bytesRead();
            }
        }
        if (sessions == 0) {
            return null;
        }
        return new CacheFigures(
                maxAttended, (double) working / sessions, (double) memory / sessions, memoryMax, dropped,
                retrievals, nanos / 1e9, read);
    }
}
