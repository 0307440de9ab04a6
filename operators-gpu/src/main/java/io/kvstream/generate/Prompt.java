package io.kvstream.generate;

import io.kvstream.runtime.SequenceStep;

import java.util.Arrays;

/**
 * The input of a request: token ids, some of which (video patches) carry their own input
 * embedding instead of a row of the embedding table. Built once, then fed in prefill chunks.
 */
public final class Prompt {

    private int[] tokens = new int[64];
    private boolean[] embedded = new boolean[64];
    private float[] embeddings = new float[0];
    private int[] embeddingRow = new int[64];
    private int length;
    private int embeddedCount;
    private int dim;

    /** Appends plain tokens. */
    public Prompt add(int... ids) {
        for (int id : ids) {
            grow(length + 1);
            tokens[length] = id;
            embedded[length] = false;
            length++;
        }
        return this;
    }

    /** Appends one token whose input embedding is {@code embedding[offset .. offset + width)}. */
    public Prompt addEmbedded(int id, float[] embedding, int offset, int width) {
        if (dim == 0) {
            dim = width;
        } else if (width != dim) {
            throw new IllegalArgumentException(
                    String.format("embedding width %d, expected %d", width, dim));
        }
        grow(length + 1);
        if (embeddings.length < (embeddedCount + 1) * dim) {
            embeddings = Arrays.copyOf(embeddings, Math.max(dim * 16, embeddings.length * 2));
        }
        System.arraycopy(embedding, offset, embeddings, embeddedCount * dim, dim);
        tokens[length] = id;
        embedded[length] = true;
        embeddingRow[length] = embeddedCount++;
        length++;
        return this;
    }

    public int length() {
        return length;
    }

    public int token(int i) {
        return tokens[i];
    }

    public boolean isEmbedded(int i) {
        return embedded[i];
    }

    /** Number of tokens that carry their own embedding. */
    public int embeddedCount() {
        return embeddedCount;
    }

    /** A copy of the token ids. */
    public int[] tokens() {
        return Arrays.copyOf(tokens, length);
    }

    /** Feeds tokens {@code [from, from + n)} into {@code step}, which becomes a prompt step. */
    public void feed(SequenceStep step, int from, int n) {
        step.prompt(true);
        for (int i = from; i < from + n; i++) {
            if (embedded[i]) {
                step.addEmbedded(tokens[i], embeddings, embeddingRow[i] * dim, dim);
            } else {
                step.add(tokens[i]);
            }
        }
    }

    private void grow(int n) {
        if (tokens.length < n) {
            int cap = Math.max(n, tokens.length * 2);
            tokens = Arrays.copyOf(tokens, cap);
            embedded = Arrays.copyOf(embedded, cap);
            embeddingRow = Arrays.copyOf(embeddingRow, cap);
        }
    }
}
