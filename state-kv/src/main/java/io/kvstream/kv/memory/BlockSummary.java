package io.kvstream.kv.memory;

import io.kvstream.kv.codec.Fp16;
import io.kvstream.kv.codec.LittleEndian;

import java.util.Arrays;

/**
 * What retrieval reads of a memory block instead of the block: per (layer, kv head) and page of
 * {@code pageTokens} tokens, the per-channel minimum and maximum of the page's keys with RoPE
 * undone (Quest, Tang et al. 2024). A query's best possible dot product with any key in a box is
 * {@code sum_c max(q_c * min_c, q_c * max_c)}, so a block whose box holds a key the query matches
 * scores at least that key's logit. Bounds are kept in fp16, rounded outwards.
 *
 * <p>Undoing RoPE leaves each key's content ({@code W_k x}); the query is rotated back by the
 * position the block will take, so scores reflect attention at that distance.
 */
public final class BlockSummary {

    private final int heads;
    private final int pages;
    private final int headDim;
    /** {@code [head][page][min | max][headDim]}: fp16 values, held as floats for scoring. */
    private final float[] bounds;

    private BlockSummary(int heads, int pages, int headDim, float[] bounds) {
        this.heads = heads;
        this.pages = pages;
        this.headDim = headDim;
        this.bounds = bounds;
    }

    /** An empty summary whose boxes {@link #include} widens; pages with no key score nothing. */
    static BlockSummary empty(int heads, int pages, int headDim) {
        float[] b = new float[heads * pages * 2 * headDim];
        for (int i = 0; i < b.length; i += 2 * headDim) {
            Arrays.fill(b, i, i + headDim, Float.POSITIVE_INFINITY);
            Arrays.fill(b, i + headDim, i + 2 * headDim, Float.NEGATIVE_INFINITY);
        }
        return new BlockSummary(heads, pages, headDim, b);
    }

    /** Widens the box of {@code (head, page)} to hold {@code key[off, off + headDim)}. */
    void include(int head, int page, float[] key, int off) {
        int base = (head * pages + page) * 2 * headDim;
        for (int c = 0; c < headDim; c++) {
            float v = key[off + c];
            if (v < bounds[base + c]) {
                bounds[base + c] = Fp16.toFloat(Fp16.floor(v));
            }
            if (v > bounds[base + headDim + c]) {
                bounds[base + headDim + c] = Fp16.toFloat(Fp16.ceil(v));
            }
        }
    }

    /** The highest logit bound of {@code query[off, off + headDim)} over the head's pages. */
    float score(int head, float[] query, int off) {
        float best = Float.NEGATIVE_INFINITY;
        for (int p = 0; p < pages; p++) {
            int base = (head * pages + p) * 2 * headDim;
            if (bounds[base] > bounds[base + headDim]) {
                continue; // a page without keys
            }
            float s = 0f;
            for (int c = 0; c < headDim; c++) {
                float q = query[off + c];
                s += Math.max(q * bounds[base + c], q * bounds[base + headDim + c]);
            }
            best = Math.max(best, s);
        }
        return best;
    }

    int heads() {
        return heads;
    }

    int pages() {
        return pages;
    }

    /** Bytes of the stored form. */
    int bytes() {
        return bounds.length * Short.BYTES;
    }

    void write(byte[] out, int off) {
        for (int i = 0; i < bounds.length; i++) {
            LittleEndian.putShort(out, off + 2 * i, Fp16.fromFloat(bounds[i]));
        }
    }

    static BlockSummary read(byte[] in, int off, int heads, int pages, int headDim) {
        float[] b = new float[heads * pages * 2 * headDim];
        for (int i = 0; i < b.length; i++) {
            b[i] = Fp16.toFloat(LittleEndian.getShort(in, off + 2 * i));
        }
        return new BlockSummary(heads, pages, headDim, b);
    }
}
