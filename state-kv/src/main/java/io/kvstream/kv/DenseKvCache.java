package io.kvstream.kv;

import java.util.Arrays;

/** A full-precision cache that keeps every token: the {@code --kv full} baseline. */
public final class DenseKvCache implements KvCache {

    private final int layers;
    private final int kvHeads;
    private final int headDim;
    private final int maxTokens;
    private final float[][] keys;
    private final float[][] values;
    private int capacity;
    private int length;

    /**
     * @param maxTokens hard limit on the number of slots (the model's context, usually); {@link
     *     #reserve} beyond it fails instead of growing without bound
     */
    public DenseKvCache(int layers, int kvHeads, int headDim, int maxTokens) {
        if (layers <= 0 || kvHeads <= 0 || headDim <= 0 || maxTokens <= 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "bad cache shape: layers=%d kvHeads=%d headDim=%d maxTokens=%d",
                            layers, kvHeads, headDim, maxTokens));
        }
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.maxTokens = maxTokens;
        this.keys = new float[layers * kvHeads][0];
        this.values = new float[layers * kvHeads][0];
    }

    @Override
    public int layers() {
        return layers;
    }

    @Override
    public int kvHeads() {
        return kvHeads;
    }

    @Override
    public int headDim() {
        return headDim;
    }

    @Override
    public int tokens() {
        return length;
    }

    @Override
    public int length(int layer, int kvHead) {
        return length;
    }

    @Override
    public int remaining() {
        return maxTokens - length;
    }

    @Override
    public int nextPosition() {
        return length;
    }

    public int maxTokens() {
        return maxTokens;
    }

    @Override
    public void reserve(int tokens) {
        int needed = length + tokens;
        if (needed > maxTokens) {
            throw new IllegalStateException(
                    String.format(
                            "KV cache holds %d tokens and cannot take %d more: the limit is %d",
                            length, tokens, maxTokens));
        }
        if (needed <= capacity) {
            return;
        }
        // Grow geometrically so that a long decode does not copy the cache on every token.
        int newCapacity = Math.min(maxTokens, Math.max(needed, Math.max(64, capacity * 2)));
        for (int i = 0; i < keys.length; i++) {
            keys[i] = Arrays.copyOf(keys[i], newCapacity * headDim);
            values[i] = Arrays.copyOf(values[i], newCapacity * headDim);
        }
        capacity = newCapacity;
    }

    @Override
    public float[] keys(int layer, int kvHead) {
        return keys[layer * kvHeads + kvHead];
    }

    @Override
    public float[] values(int layer, int kvHead) {
        return values[layer * kvHeads + kvHead];
    }

    @Override
    public void commit(int tokens) {
        if (tokens < 0 || length + tokens > capacity) {
            throw new IllegalStateException(
                    String.format(
                            "commit of %d tokens past capacity %d (length %d)",
                            tokens, capacity, length));
        }
        length += tokens;
    }

    /** Commits keep the slots as written. */
    @Override
    public int firstChangedSlot(int layer, int kvHead) {
        return length;
    }

    @Override
    public void clear() {
        length = 0;
    }

    @Override
    public long bytesInMemory() {
        return 2L * layers * kvHeads * headDim * length * Float.BYTES;
    }
}
