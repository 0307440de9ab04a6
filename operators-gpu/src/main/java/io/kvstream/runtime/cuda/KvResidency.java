package io.kvstream.runtime.cuda;

import io.kvstream.kv.KvCache;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Which caches have a copy in the device KV pool, and how much of it is current.
 *
 * <p>The host cache stays the truth (it is what state checkpoints): the device copy is a mirror
 * that a step extends and that is re-sent where the cache changed its own slots. A cache that
 * leaves the device loses nothing, so swapping out is giving its pages back; when the pool runs
 * short, the least recently stepped caches go first. Caches the caller dropped are noticed
 * through weak references and their pages freed.
 */
public final class KvResidency {

    /** One cache's device copy. */
    public static final class Resident {
        private final WeakReference<KvCache> cache;
        private final BlockTable table;
        /** Per (layer, kv head): slots of the cache the device holds as the host does; -1: none. */
        private final int[] deviceLength;
        private int deviceTokens = -1;
        private long lastStep;

        Resident(KvCache cache, int heads, int pageTokens) {
            this.cache = new WeakReference<>(cache);
            this.table = new BlockTable(heads, pageTokens);
            this.deviceLength = new int[heads];
        }

        public BlockTable table() {
            return table;
        }

        /**
         * First slot of head {@code lh} the device does not hold as the host does: 0 when the cache
         * is new here or changed behind the backend's back (another backend, a restore, a clear).
         */
        public int validSlots(KvCache c, int lh) {
            int layer = lh / c.kvHeads();
            int head = lh % c.kvHeads();
            if (deviceTokens != c.tokens() || deviceLength[lh] != c.length(layer, head)) {
                return 0;
            }
            return deviceLength[lh];
        }

        /** Records that the device now mirrors the cache as it is. */
        public void markSynced(KvCache c) {
            for (int lh = 0; lh < deviceLength.length; lh++) {
                deviceLength[lh] = c.length(lh / c.kvHeads(), lh % c.kvHeads());
            }
            deviceTokens = c.tokens();
        }
    }

    private final PagePool pool;
    private final int heads;
    private final Map<KvCache, Resident> byCache = new WeakHashMap<>();
    /** Every resident, also those whose cache was collected, so that their pages come back. */
    private final List<Resident> residents = new ArrayList<>();
    private long step;

    /** @param heads layers times kv heads of the model */
    public KvResidency(PagePool pool, int heads) {
        this.pool = pool;
        this.heads = heads;
    }

    public PagePool pool() {
        return pool;
    }

    public int residentCount() {
        return residents.size();
    }

    /**
     * Makes room on the device for a step: each of {@code caches} gets a resident with pages for
     * {@code slots[i]} slots per head, evicting caches outside the step, least recently used
     * first, when the pool runs short.
     *
     * @throws IllegalStateException when the step's caches alone do not fit the pool
     */
    public Resident[] prepare(List<KvCache> caches, int[] slots) {
        step++;
        dropCollected();
        Resident[] out = new Resident[caches.size()];
        for (int i = 0; i < out.length; i++) {
            KvCache cache = caches.get(i);
            Resident r = byCache.get(cache);
            if (r == null) {
                r = new Resident(cache, heads, pool.pageTokens());
                byCache.put(cache, r);
                residents.add(r);
            }
            r.lastStep = step;
            out[i] = r;
        }
        for (int i = 0; i < out.length; i++) {
            while (!out[i].table.ensureCapacity(slots[i], pool)) {
                if (!evictOne()) {
                    throw new IllegalStateException(String.format(
                            "the device KV pool (%d pages of %d slots, %d free) cannot hold this step's %d"
                                    + " sequences: sequence %d needs %d slots in each of %d heads; give the"
                                    + " pool more memory (-Dkvstream.cuda.kvPoolMb) or step fewer sequences",
                            pool.pages(), pool.pageTokens(), pool.freePages(), out.length, i, slots[i], heads));
                }
            }
        }
        return out;
    }

    /** Frees the pages of the least recently stepped resident outside the current step. */
    private boolean evictOne() {
        Resident victim = null;
        for (Resident r : residents) {
            if (r.lastStep != step && (victim == null || r.lastStep < victim.lastStep)) {
                victim = r;
            }
        }
        if (victim == null) {
            return false;
        }
        remove(victim);
        return true;
    }

    private void dropCollected() {
        for (int i = residents.size() - 1; i >= 0; i--) {
            Resident r = residents.get(i);
            if (r.cache.get() == null) {
                r.table.release(pool);
                residents.remove(i);
            }
        }
    }

    private void remove(Resident r) {
        r.table.release(pool);
        residents.remove(r);
        KvCache cache = r.cache.get();
        if (cache != null) {
            byCache.remove(cache);
        }
    }

    /** Frees every page. */
    public void clear() {
        for (Resident r : residents) {
            r.table.release(pool);
        }
        residents.clear();
        byCache.clear();
    }
}
