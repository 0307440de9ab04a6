package io.kvstream.runtime.cuda;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkState;

import java.util.BitSet;

/**
 * The host's book of the device KV pool: {@code pages} pages of {@code pageTokens} slots each,
 * handed out and taken back through a free list. Knows nothing of the device memory itself, so
 * that allocation, exhaustion and double frees are checked where no GPU is needed.
 */
public final class PagePool {

    private final int pages;
    private final int pageTokens;
    private final int[] freeList;
    private final BitSet used;
    private int freeCount;

    public PagePool(int pages, int pageTokens) {
        checkArgument(pages > 0, "a KV pool needs at least one page, got %s", pages);
        checkArgument(pageTokens > 0, "pages must hold at least one slot, got %s", pageTokens);
        checkArgument((long) pages * pageTokens <= Integer.MAX_VALUE,
                "%s pages of %s slots overflow the int slot addresses the kernels take", pages, pageTokens);
        this.pages = pages;
        this.pageTokens = pageTokens;
        this.freeList = new int[pages];
        this.used = new BitSet(pages);
        // Low pages first: a small workload stays in the start of the pool.
        for (int i = 0; i < pages; i++) {
            freeList[i] = pages - 1 - i;
        }
        this.freeCount = pages;
    }

    public int pages() {
        return pages;
    }

    public int pageTokens() {
        return pageTokens;
    }

    public int freePages() {
        return freeCount;
    }

    /**
     * Takes {@code n} pages into {@code dst[offset ..]}, all or none.
     *
     * @return false, taking nothing, when fewer than {@code n} are free
     */
    public boolean allocate(int n, int[] dst, int offset) {
        checkArgument(n >= 0, "negative page count %s", n);
        if (n > freeCount) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            int page = freeList[--freeCount];
            used.set(page);
            dst[offset + i] = page;
        }
        return true;
    }

    /** Gives back {@code n} pages from {@code src[offset ..]}. */
    public void release(int[] src, int offset, int n) {
        for (int i = 0; i < n; i++) {
            int page = src[offset + i];
            checkArgument(page >= 0 && page < pages, "page %s is not in a pool of %s", page, pages);
            checkState(used.get(page), "page %s released twice", page);
            used.clear(page);
            freeList[freeCount++] = page;
        }
    }
}
