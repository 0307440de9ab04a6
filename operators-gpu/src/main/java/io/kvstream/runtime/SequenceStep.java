package io.kvstream.runtime;

import io.kvstream.kv.KvCache;

import java.util.Arrays;

/**
 * One sequence's share of a forward step: the new tokens it feeds (a prefill chunk, or one
 * decode token), the cache they extend, and which of them need logits.
 *
 * <p>A token either takes its row of the embedding table or carries an embedding of its own (a
 * video patch, which keeps the image token id for bookkeeping). Instances are reused from step to
 * step, so filling one allocates only when it grows.
 */
public final class SequenceStep {

    private KvCache cache;
    private int[] tokens = new int[16];
    private int[] cacheIds = new int[0];
    private boolean[] embedded = new boolean[16];
    private float[] embeddings = new float[0];
    private int count;
    private int dim;
    private int logitsFrom;
    private float[] logits = new float[0];
    private boolean commits = true;
    private boolean prompt;
    private boolean retrieves;

    public SequenceStep(KvCache cache) {
        reset(cache);
    }

    /** Empties the step and points it at {@code cache}. */
    public SequenceStep reset(KvCache cache) {
        this.cache = cache;
        this.count = 0;
        this.logitsFrom = -1;
        this.commits = true;
        this.prompt = false;
        this.retrieves = false;
        return this;
    }

    /** Marks the step as feeding prompt tokens (a prefill chunk) rather than a decode token. */
    public SequenceStep prompt(boolean prompt) {
        this.prompt = prompt;
        return this;
    }

    public boolean isPrompt() {
        return prompt;
    }

    /**
     * Whether a cache with a memory tier brings blocks back for this prompt step: for the prompt
     * of a turn that is answered. Other prompt steps (frames, context) attend over the working set
     * alone; decode steps keep what the turn's prompt brought back.
     */
    public SequenceStep retrieves(boolean retrieves) {
        this.retrieves = retrieves;
        return this;
    }

    public boolean retrieves() {
        return retrieves;
    }

    /**
     * Whether the backend commits the step's tokens to the cache afterwards (the default) or only
     * {@link KvCache#append appends} them, for a prompt chunk that more chunks of the same prompt
     * follow.
     */
    public SequenceStep commits(boolean commits) {
        this.commits = commits;
        return this;
    }

    /** After the forward pass: commits or appends the step's tokens to its cache, as set. */
    public void finishCache() {
        if (commits) {
            cache.commit(count);
        } else {
            cache.append(count);
        }
    }

    /**
     * The step's token ids as the cache keeps them: -1 where a token carries an embedding of its
     * own (a video patch's image token id says nothing of what it shows). A scratch array, valid
     * until the step changes.
     */
    public int[] cacheTokenIds() {
        if (cacheIds.length < count) {
            cacheIds = new int[tokens.length];
        }
        for (int i = 0; i < count; i++) {
            cacheIds[i] = embedded[i] ? -1 : tokens[i];
        }
        return cacheIds;
    }

    /** Appends a token that takes its row of the embedding table. */
    public SequenceStep add(int token) {
        grow(count + 1);
        tokens[count] = token;
        embedded[count] = false;
        count++;
        return this;
    }

    /** Appends tokens {@code ids[from .. from + n)}. */
    public SequenceStep add(int[] ids, int from, int n) {
        grow(count + n);
        System.arraycopy(ids, from, tokens, count, n);
        Arrays.fill(embedded, count, count + n, false);
        count += n;
        return this;
    }

    /**
     * Appends a token whose input embedding is {@code embedding[offset .. offset + width)} instead
     * of its row of the embedding table.
     */
    public SequenceStep addEmbedded(int token, float[] embedding, int offset, int width) {
        grow(count + 1);
        if (dim == 0) {
            dim = width;
        } else if (dim != width) {
            throw new IllegalArgumentException(
                    String.format("embedding width %d differs from %d in the same step", width, dim));
        }
        if (embeddings.length < (count + 1) * dim) {
            embeddings = Arrays.copyOf(embeddings, Math.max((count + 1) * dim, embeddings.length * 2));
        }
        System.arraycopy(embedding, offset, embeddings, count * dim, dim);
        tokens[count] = token;
        embedded[count] = true;
        count++;
        return this;
    }

    /** Asks for logits at every token from index {@code from} on (default: the last token only). */
    public SequenceStep logitsFrom(int from) {
        if (from < 0 || from > count) {
            throw new IllegalArgumentException(
                    String.format("logits from token %d of a step of %d tokens", from, count));
        }
        this.logitsFrom = from;
        return this;
    }

    public KvCache cache() {
        return cache;
    }

    public int count() {
        return count;
    }

    public int token(int i) {
        return tokens[i];
    }

    public boolean isEmbedded(int i) {
        return embedded[i];
    }

    /** Row {@code i} of the carried embeddings, valid when {@link #isEmbedded}{@code (i)}. */
    public float[] embeddings() {
        return embeddings;
    }

    /** First token index that gets logits. */
    public int firstLogit() {
        return logitsFrom < 0 ? count - 1 : logitsFrom;
    }

    /** Number of tokens that get logits. */
    public int logitRows() {
        return count - firstLogit();
    }

    /**
     * Logits written by the last step, {@code [row][vocab]}, where row 0 is token {@link
     * #firstLogit()}. Owned by this step and overwritten by the next.
     */
    public float[] logits() {
        return logits;
    }

    /** Makes room for {@code size} logits; the backend calls this before it writes them. */
    public float[] logitsBuffer(int size) {
        if (logits.length < size) {
            logits = new float[size];
        }
        return logits;
    }

    private void grow(int n) {
        if (tokens.length < n) {
            int cap = Math.max(n, tokens.length * 2);
            tokens = Arrays.copyOf(tokens, cap);
            embedded = Arrays.copyOf(embedded, cap);
        }
    }
}
