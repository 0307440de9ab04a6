package io.kvstream.runtime.cuda;

import static org.apache.flink.util.Preconditions.checkArgument;

import java.util.Arrays;

/**
 * One sequence's pages in the device KV pool: for each (layer, kv head) {@code lh}, the same
 * number of pages, page {@code j} holding that head's slots {@code [j * pageTokens, (j + 1) *
 * pageTokens)}. Heads get pages alike even when eviction left them different lengths: the
 * kernels then find a head's page at {@code lh * pagesPerHead + j} without a per-head offset.
 */
public final class BlockTable {

    private final int heads;
    private final int pageTokens;
    private int pagesPerHead;
    /** {@code [lh][pagesPerHead]}, the layout the attention kernels read. */
    private int[] table = new int[0];

    /** @param heads layers times kv heads */
    public BlockTable(int heads, int pageTokens) {
        checkArgument(heads > 0 && pageTokens > 0, "bad block table shape %s x %s", heads, pageTokens);
        this.heads = heads;
        this.pageTokens = pageTokens;
    }

    public int pagesPerHead() {
        return pagesPerHead;
    }

    /** Slots every head can hold with the pages it has. */
    public int capacity() {
        return pagesPerHead * pageTokens;
    }

    /**
     * Grows every head to hold at least {@code slots} slots, taking pages from {@code pool}.
     *
     * @return false, changing nothing, when the pool has too few free pages
     */
    public boolean ensureCapacity(int slots, PagePool pool) {
        checkArgument(pool.pageTokens() == pageTokens, "pool pages of %s slots, table of %s", pool.pageTokens(), pageTokens);
        int needed = (slots + pageTokens - 1) / pageTokens;
        if (needed <= pagesPerHead) {
            return true;
        }
        int extra = needed - pagesPerHead;
        int[] fresh = new int[extra * heads];
        if (!pool.allocate(fresh.length, fresh, 0)) {
            return false;
        }
        int[] grown = new int[needed * heads];
        for (int lh = 0; lh < heads; lh++) {
            System.arraycopy(table, lh * pagesPerHead, grown, lh * needed, pagesPerHead);
            System.arraycopy(fresh, lh * extra, grown, lh * needed + pagesPerHead, extra);
        }
        table = grown;
        pagesPerHead = needed;
        return true;
    }

    /** The pool slot (page * pageTokens + offset) that holds slot {@code slot} of head {@code lh}. */
    public int address(int lh, int slot) {
        checkArgument(lh >= 0 && lh < heads, "head %s of %s", lh, heads);
        checkArgument(slot >= 0 && slot < capacity(), "slot %s outside the %s held", slot, capacity());
        return table[lh * pagesPerHead + slot / pageTokens] * pageTokens + slot % pageTokens;
    }

    /** Copies the table, {@code [lh][pagesPerHead]}, to {@code dst[offset ..]}; returns its length. */
    public int copyTo(int[] dst, int offset) {
        System.arraycopy(table, 0, dst, offset, heads * pagesPerHead);
        return heads * pagesPerHead;
    }

    public int size() {
        return heads * pagesPerHead;
    }

    /** Gives every page back to {@code pool}; the table is empty afterwards. */
    public void release(PagePool pool) {
        pool.release(table, 0, heads * pagesPerHead);
        table = new int[0];
        pagesPerHead = 0;
    }

    @Override
    public String toString() {
        return String.format("BlockTable[%d heads x %d pages: %s]", heads, pagesPerHead,
                Arrays.toString(Arrays.copyOf(table, Math.min(table.length, 16))));
    }
}
