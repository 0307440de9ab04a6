package io.kvstream.kv;

import javax.annotation.Nullable;

/**
 * One sequence's key/value cache as the forward pass sees it.
 *
 * <p>Each (layer, kv head) holds its own run of slots, {@code [slot][headDim]}, so that eviction
 * may keep different tokens in different heads. The model writes the keys (already rotated) and
 * values of the step's new tokens into the slots right after {@link #length(int, int)}, attends
 * over every slot up to and including the token being computed, and {@link #commit commits} the
 * new tokens once all layers are written. Compressed caches decode into this layout (with the
 * values their codec reproduces); how they store blocks between turns is their own business.
 */
public interface KvCache {

    int layers();

    int kvHeads();

    int headDim();

    /** Tokens appended to the cache over its life (what the session has fed), evicted or not. */
    int tokens();

    /** Slots held for {@code (layer, kvHead)} before the current step's tokens. */
    int length(int layer, int kvHead);

    /**
     * Tokens that can still be appended: for a cache that keeps everything, its limit (the
     * model's context) minus what it holds; for one that evicts, {@link Integer#MAX_VALUE}.
     */
    int remaining();

    /** RoPE position that the next appended token takes. */
    int nextPosition();

    /**
     * Makes room for {@code tokens} more slots in every head. Arrays may be replaced, so callers
     * fetch them after reserving.
     */
    void reserve(int tokens);

    /** Keys of one head, {@code [slot][headDim]}, valid up to the reserved capacity. */
    float[] keys(int layer, int kvHead);

    /** Values of one head, same layout as {@link #keys}. */
    float[] values(int layer, int kvHead);

    /**
     * Makes the {@code tokens} slots written after {@link #length(int, int)} part of the cache
     * and advances the position; a cache that evicts or compresses does so here, over these
     * tokens and any {@link #append appended} since the last commit.
     */
    void commit(int tokens);

    /**
     * Like {@link #commit}, but the tokens stay as computed, at full precision and all kept,
     * until the next commit compresses and evicts them with its own. A prompt fed in several
     * chunks appends all but its last chunk, so that what the cache holds afterwards, and what
     * later tokens attend over, does not depend on how the prompt was chunked. A cache that
     * neither compresses nor evicts commits at once.
     */
    default void append(int tokens) {
        commit(tokens);
    }

    /**
     * After {@link #commit}: the lowest slot of {@code (layer, kvHead)} whose contents the commit
     * changed, other than by taking in the slots the forward pass wrote as written; {@link
     * #length} when it changed nothing. A backend that mirrors the slots elsewhere (a GPU) re-sends
     * from here. The default, 0, says that anything may have changed.
     */
    default int firstChangedSlot(int layer, int kvHead) {
        return 0;
    }

    /**
     * Where the forward pass reports attention weights, for caches whose eviction needs them;
     * null (the default) when nothing needs them, so the full-cache path pays nothing.
     */
    @Nullable
    default AttentionObserver attentionObserver() {
        return null;
    }

    /**
     * Most tokens one step may feed: a cache that bounds its working set also bounds the prefill
     * chunks that extend it. The default sets no bound.
     */
    default int maxStepTokens() {
        return Integer.MAX_VALUE;
    }

    /**
     * Whether the cache keeps a memory of evicted blocks that the forward pass should query with
     * {@link #retrieve} before attending. Such a cache also exposes a retrieved region per head
     * ({@link #retrievedLength}), which attention covers before the held slots.
     */
    default boolean retrieves() {
        return false;
    }

    /**
     * Chooses, for every kv head of {@code layer}, the memory blocks that the step's queries
     * match best, and decodes them into the retrieved region, keys rotated to the region's
     * positions. Called once per layer of a prompt step, after RoPE, before attention; decode
     * steps keep the last choice.
     *
     * @param queries rotated queries of the step's tokens, {@code [token][heads * headDim]}
     * @param offset index in {@code queries} of the step's first token
     * @param tokens the step's tokens
     * @param stride floats per token row ({@code heads * headDim})
     */
    default void retrieve(int layer, float[] queries, int offset, int tokens, int stride) {}

    /** Empties the retrieved region, for a prompt step that attends over the working set alone. */
    default void releaseRetrieved() {}

    /**
     * The ids of the next step's tokens, -1 where a position carries an embedding (a video patch);
     * called before the step's layers run. Caches whose memory matches a turn's tokens keep them
     * with their blocks; others ignore them.
     */
    default void stepTokenIds(int[] ids, int count) {}

    /**
     * Marks the next token as the first of a turn that will be answered: a memory that matches
     * tokens with {@code focus} lets such a turn attend over what it named instead of the tokens
     * held before it ({@link #maskedFrom}).
     */
    default void startTurn() {}

    /**
     * Held slots {@code [maskedFrom, maskedTo)} of {@code (layer, kvHead)} that the current step
     * does not attend over; an empty range for caches that attend over every held slot.
     */
    default int maskedFrom(int layer, int kvHead) {
        return 0;
    }

    /** See {@link #maskedFrom}. */
    default int maskedTo(int layer, int kvHead) {
        return 0;
    }

    /** Slots of the retrieved region of {@code (layer, kvHead)}; 0 for caches without memory. */
    default int retrievedLength(int layer, int kvHead) {
        return 0;
    }

    /** Keys of the retrieved region, {@code [slot][headDim]}, rotated to the region's positions. */
    default float[] retrievedKeys(int layer, int kvHead) {
        throw new UnsupportedOperationException("this cache has no memory");
    }

    /** Values of the retrieved region, same layout as {@link #retrievedKeys}. */
    default float[] retrievedValues(int layer, int kvHead) {
        throw new UnsupportedOperationException("this cache has no memory");
    }

    /** Forgets every token, keeping the allocation. */
    void clear();

    /** Bytes the decoded slots take in memory. */
    long bytesInMemory();

    /**
     * Bytes the cache writes to state for what it holds now (encoded blocks and metadata); a
     * cache that is never stored reports its memory.
     */
    default long storedBytes() {
        return bytesInMemory();
    }
}
