package io.kvstream.pipeline.operator;

import io.kvstream.connect.serde.SingleObjectTypeInfo;
import io.kvstream.kv.block.EncodedBlock;
import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.memory.SessionMemory;
import io.kvstream.kv.state.EncodedBlockSerializer;
import io.kvstream.kv.state.HistoryChunks;
import io.kvstream.kv.state.SessionMeta;
import io.kvstream.kv.state.SessionMetaSerializer;
import io.kvstream.schema.SessionEvent;

import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeutils.base.IntSerializer;
import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.api.common.typeutils.base.array.BytePrimitiveArraySerializer;
import org.apache.flink.api.common.typeutils.base.array.IntPrimitiveArraySerializer;
import org.apache.flink.api.common.typeutils.base.array.StringArraySerializer;

import javax.annotation.Nullable;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Where the current session lives in keyed state: its pending events, its KV cache as blocks with
 * their metadata and token history, the memory tier's blocks, its chat, its last video frame, the event ids it has seen,
 * the starts of its head event and its idle deadline. Every handle is keyed by session id, so the
 * operator sets the key and this reads and writes the rest; state names are the savepoint format.
 */
final class SessionStore {

    private final int recentEventIds;
    private final ListStateDescriptor<SessionEvent> pendingDescriptor;
    private final ListState<SessionEvent> pending;
    private final MapState<Integer, EncodedBlock> blocks;
    /** Blocks the window evicted into the memory tier, by block index (specs with a memory part). */
    private final MapState<Integer, EncodedBlock> memory;
    private final ValueState<SessionMeta> meta;
    private final MapState<Integer, int[]> history;
    private final ChatStore chat;
    private final ValueState<byte[]> lastFrame;
    private final ValueState<String[]> recentIds;
    /**
     * Starts of the head event so far, counted before it runs: a request that takes the task down
     * is found here after the restore, and skipped once it used its attempts.
     */
    private final ValueState<Integer> attempts;
    /** When the session's idle timer fires: the timer to delete when the next event comes. */
    private final ValueState<Long> idleDeadline;

    SessionStore(RuntimeContext context, int recentEventIds) {
        this.recentEventIds = recentEventIds;
        this.pendingDescriptor = new ListStateDescriptor<>("pending", SingleObjectTypeInfo.forRecord(SessionEvent.class));
        this.pending = context.getListState(pendingDescriptor);
        this.blocks = context.getMapState(
                new MapStateDescriptor<>("kv-blocks", IntSerializer.INSTANCE, EncodedBlockSerializer.INSTANCE));
        this.memory = context.getMapState(
                new MapStateDescriptor<>("kv-memory", IntSerializer.INSTANCE, EncodedBlockSerializer.INSTANCE));
        this.meta = context.getState(new ValueStateDescriptor<>("kv-meta", SessionMetaSerializer.INSTANCE));
        this.history = context.getMapState(
                new MapStateDescriptor<>("history", IntSerializer.INSTANCE, IntPrimitiveArraySerializer.INSTANCE));
        this.chat = new ChatStore(context);
        this.lastFrame = context.getState(new ValueStateDescriptor<>("last-frame", BytePrimitiveArraySerializer.INSTANCE));
        this.recentIds = context.getState(new ValueStateDescriptor<>("recent-ids", StringArraySerializer.INSTANCE));
        this.attempts = context.getState(new ValueStateDescriptor<>("attempts", IntSerializer.INSTANCE));
        this.idleDeadline = context.getState(new ValueStateDescriptor<>("idle-deadline", LongSerializer.INSTANCE));
    }

    /** For finding every session with pending events after a restore. */
    ListStateDescriptor<SessionEvent> pendingDescriptor() {
        return pendingDescriptor;
    }

    // ------------------------------------------------------------------ events

    /** Adds an event id to the session's recent ids; false when it is there already. */
    boolean remember(String eventId) throws Exception {
        String[] ids = recentIds.value();
        if (ids == null) {
            recentIds.update(new String[] {eventId});
            return true;
        }
        for (String id : ids) {
            if (id.equals(eventId)) {
                return false;
            }
        }
        int keep = Math.min(ids.length, recentEventIds - 1);
        String[] next = new String[keep + 1];
        System.arraycopy(ids, ids.length - keep, next, 0, keep);
        next[keep] = eventId;
        recentIds.update(next);
        return true;
    }

    /** The last event id the session took, or "" when it remembers none. */
    String lastEventId() throws Exception {
        String[] ids = recentIds.value();
        return ids == null || ids.length == 0 ? "" : ids[ids.length - 1];
    }

    void addPending(SessionEvent event) throws Exception {
        pending.add(event);
    }

    /** The session's oldest unfinished event, or null. */
    @Nullable
    SessionEvent head() throws Exception {
        Iterator<SessionEvent> it = pending.get().iterator();
        return it.hasNext() ? it.next() : null;
    }

    boolean hasPending() throws Exception {
        return pending.get().iterator().hasNext();
    }

    /** Drops the head event, which is done with, and its count of starts. */
    void removeHead() throws Exception {
        attempts.clear();
        List<SessionEvent> rest = new ArrayList<>();
        Iterator<SessionEvent> it = pending.get().iterator();
        if (it.hasNext()) {
            it.next();
        }
        while (it.hasNext()) {
            rest.add(it.next());
        }
        if (rest.isEmpty()) {
            pending.clear();
        } else {
            pending.update(rest);
        }
    }

    /** Starts of the head event so far. */
    int attempts() throws Exception {
        Integer n = attempts.value();
        return n == null ? 0 : n;
    }

    void countAttempt() throws Exception {
        attempts.update(attempts() + 1);
    }

    // ------------------------------------------------------------------ KV cache

    @Nullable
    SessionMeta meta() throws Exception {
        return meta.value();
    }

    Iterable<EncodedBlock> blocks() throws Exception {
        return blocks.values();
    }

    Iterable<EncodedBlock> memoryBlocks() throws Exception {
        return memory.values();
    }

    /**
     * The token history {@code stored} describes: inline in state of the first format, else from
     * its chunks.
     *
     * @throws IOException naming a chunk that is missing or of the wrong size
     */
    int[] history(SessionMeta stored) throws Exception {
        if (stored.inlineHistory() != null) {
            return stored.inlineHistory();
        }
        Map<Integer, int[]> chunks = new HashMap<>();
        for (Map.Entry<Integer, int[]> e : history.entries()) {
            chunks.put(e.getKey(), e.getValue());
        }
        return HistoryChunks.join(chunks, stored.historyLength());
    }

    /**
     * Drops the stored blocks and memory, which are not to be used; the history stays for
     * recomputing, which evicts into a new memory.
     */
    void dropBlocks() throws Exception {
        blocks.clear();
        memory.clear();
    }

    /**
     * Writes what a finished request changed: the blocks it dirtied, the history's last chunk and
     * new ones, the metadata. A turn writes what it adds, not the session again.
     */
    void store(HotSession s, String model) throws Exception {
        CompressedKvCache cache = s.cache;
        for (int b : cache.dirtyBlocks()) {
            EncodedBlock block = cache.block(b);
            if (block == null) {
                blocks.remove(b);
            } else {
                blocks.put(b, block);
            }
        }
        SessionMemory remembered = cache.memory();
        if (remembered != null) {
            for (int b : remembered.dirtyBlocks()) {
                EncodedBlock block = remembered.stored(b);
                if (block == null) {
                    memory.remove(b);
                } else {
                    memory.put(b, block);
                }
            }
        }
        cache.markClean();
        int length = s.historyLength();
        if (length > s.storedHistory) {
            for (int c = HistoryChunks.firstChanged(s.storedHistory); c < HistoryChunks.chunks(length); c++) {
                history.put(c, s.historyChunk(c));
            }
            s.storedHistory = length;
        }
        meta.update(cache.sessionMeta(model, length));
    }

    // ------------------------------------------------------------------ chat and frames

    @Nullable
    ChatState chat() throws Exception {
        return chat.load();
    }

    void saveChat(int storedMessages, ChatState after) throws Exception {
        chat.save(storedMessages, after);
    }

    @Nullable
    byte[] lastFrame() throws Exception {
        return lastFrame.value();
    }

    void saveFrame(byte[] frame) throws Exception {
        lastFrame.update(frame);
    }

    // ------------------------------------------------------------------ idle deadline

    @Nullable
    Long idleDeadline() throws Exception {
        return idleDeadline.value();
    }

    void idleDeadline(long deadline) throws Exception {
        idleDeadline.update(deadline);
    }

    void clearIdleDeadline() {
        idleDeadline.clear();
    }

    // ------------------------------------------------------------------ starting over

    /** Forgets what the session holds (KV, history, chat, frames); its events go on. */
    void reset() {
        blocks.clear();
        memory.clear();
        meta.clear();
        history.clear();
        chat.clear();
        lastFrame.clear();
    }

    /** Forgets the session: what it holds and the event ids it saw; its timer is the caller's. */
    void end() {
        reset();
        recentIds.clear();
        idleDeadline.clear();
    }
}
