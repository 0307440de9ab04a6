package io.kvstream.pipeline.operator;

import javax.annotation.Nullable;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Set;

/**
 * The sessions whose decoded caches stay in memory between requests, least recently used first,
 * bounded by the bytes of their caches. A session dropped from here lives on in keyed state only,
 * and is restored from its blocks when it returns; sessions with a request in flight are never
 * dropped.
 */
final class HotSessions {

    private final long budgetBytes;
    private final LinkedHashMap<String, HotSession> sessions = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;
    private long evictions;

    HotSessions(long budgetBytes) {
        this.budgetBytes = budgetBytes;
    }

    @Nullable
    HotSession get(String id) {
        return sessions.get(id);
    }

    void put(HotSession session) {
        HotSession old = sessions.put(session.id, session);
        if (old != null) {
            bytes -= old.countedBytes;
        }
        session.countedBytes = session.cache.bytesInMemory();
        bytes += session.countedBytes;
    }

    /** Recounts a session's bytes after its cache changed. */
    void update(HotSession session) {
        if (sessions.get(session.id) == session) {
            long now = session.cache.bytesInMemory();
            bytes += now - session.countedBytes;
            session.countedBytes = now;
        }
    }

    void remove(String id) {
        HotSession old = sessions.remove(id);
        if (old != null) {
            bytes -= old.countedBytes;
        }
    }

    /** Drops least recently used sessions not in {@code busy} until within the budget. */
    void evict(Set<String> busy) {
        Iterator<HotSession> it = sessions.values().iterator();
        while (bytes > budgetBytes && it.hasNext()) {
            HotSession s = it.next();
            if (!busy.contains(s.id)) {
                it.remove();
                bytes -= s.countedBytes;
                evictions++;
            }
        }
    }

    int size() {
        return sessions.size();
    }

    long bytes() {
        return bytes;
    }

    long evictions() {
        return evictions;
    }

    void clear() {
        sessions.clear();
        bytes = 0;
    }
}
