package io.kvstream.kv;

/**
 * One sequence's key/value cache as the forward pass sees it.
 *
 * <p>The model writes the keys (already rotated) and values of new tokens into slots past {@link
 * #length()}, attends over every slot up to and including the token being computed, and then
 * {@link #commit commits} the new tokens once all layers have been written. Slots are dense per
 * layer, laid out {@code [slot][kvHead][headDim]}, so attention reads them with a stride of
 * {@code kvHeads * headDim}. Compressed or evicting caches decode into this layout; how they keep
 * their data between turns is their own business.
 */
public interface KvCache {

    int layers();

    int kvHeads();

    int headDim();

    /** Number of committed tokens (slots holding keys and values for every layer). */
    int length();

    /** RoPE position that the next appended token takes. */
    int nextPosition();

    /** Makes room for {@code tokens} more slots past {@link #length()}; may reallocate arrays. */
    void reserve(int tokens);

    /**
     * Keys of one layer, {@code [slot][kvHead][headDim]}; valid up to the reserved capacity. The
     * array may change after {@link #reserve}, so callers fetch it again after reserving.
     */
    float[] keys(int layer);

    /** Values of one layer, same layout as {@link #keys}. */
    float[] values(int layer);

    /** Marks {@code tokens} written slots as part of the cache and advances the position. */
    void commit(int tokens);

    /** Forgets every token, keeping the allocation. */
    void clear();

    /** Bytes this cache holds in memory for its committed tokens. */
    default long bytesInMemory() {
        return 2L * layers() * kvHeads() * headDim() * length() * Float.BYTES;
    }
}
