package io.kvstream.kv.memory;

import io.kvstream.kv.block.ParsedBlock;
import io.kvstream.kv.evict.Rerotation;
import io.kvstream.kv.evict.TopK;

import javax.annotation.Nullable;

import java.util.Arrays;

/**
 * Brings a session's memory blocks back for a prompt step: scores the blocks against the step's
 * last queries, chooses per layer and kv head (see {@link MemorySpec#share()}), and decodes the
 * chosen ones into the retrieved region that attention covers before the held slots, keys rotated
 * to the region's positions.
 *
 * <p>Single-threaded; buffers grow with the memory and are kept from step to step.
 */
final class Retriever {

    private final MemorySpec spec;
    private final RunReader reader;
    private final Rerotation rerotation;
    private final int kvHeads;
    private final int headDim;
    private final int groupSize;
    private final int blockTokens;
    private final int sink;
    private final int pages;

    private final float[][] regionKeys;
    private final float[][] regionValues;
    private final int[] regionLength;

    private final float[] keyScratch;
    private final TopK topK = new TopK();
    /** What the step's turn names in memory; null when the spec does not match tokens. */
    @Nullable private final TurnMatch turn;
    /** Whether the blocks the turn named choose this step's region. */
    private boolean namedStep;
    /** With {@link #namedStep}: how many blocks of {@link #chosen} the step's first layer took. */
    private int namedPicks;
    private MemoryBlock[] order = new MemoryBlock[0];
    private int gap;
    private float[] rotatedQueries = new float[0];
    private float[] stepQueries = new float[0];
    private float[] scores = new float[0];
    private int[] chosen = new int[0];
    private int[] rank = new int[0];
    private boolean[] taken = new boolean[0];
    private float[] headScores = new float[0];
    /** Per block, what the layers of the current step so far want of it (shared choices). */
    private float[] cumulative = new float[0];
    private int regionTotal;
    private int lastPosition;

    private long retrievals;
    private long retrievalNanos;
    private long bytesRead;

    /**
     * @param runs (layer, kv head) pairs
     * @param heads query heads of the model
     */
    Retriever(MemorySpec spec, RunReader reader, Rerotation rerotation, int runs, int heads, int kvHeads, int headDim,
              int blockTokens, int sink, @Nullable TurnMatch turn) {
        this.spec = spec;
        this.turn = turn;
        this.reader = reader;
        this.rerotation = rerotation;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.groupSize = heads / kvHeads;
        this.blockTokens = blockTokens;
        this.sink = sink;
        this.pages = blockTokens / spec.pageTokens();
        this.regionKeys = new float[runs][];
        this.regionValues = new float[runs][];
        this.regionLength = new int[runs];
        this.keyScratch = new float[headDim];
    }

    /**
     * Chooses and decodes the region of every kv head of {@code layer} for a prompt step.
     *
     * @param order the memory's blocks in session order, {@code n} of them
     * @param gap slots between the sinks and the window that the region may take
     * @param use the memory's clock for this retrieval, which chosen blocks take as their last use
     * @param queries the step's rotated queries, {@code [token][stride]}, heads side by side
     * @param firstRecent per (layer, kv head), the oldest token the window holds after the sinks
     *     (tokens from it on are in attention already and are not brought back twice)
     */
    void retrieve(
            int layer, MemoryBlock[] order, int n, int gap, long use, float[] queries, int offset, int tokens,
            int stride, int[] firstRecent) {
        long start = System.nanoTime();
        this.order = order;
        this.gap = gap;
        if (layer == 0) {
            retrievals++;
        }
        if (n == 0) {
            Arrays.fill(regionLength, layer * kvHeads, (layer + 1) * kvHeads, 0);
            return;
        }
        int k = Math.min(spec.retrieve(), n);
        int from = Math.max(0, tokens - spec.queries());
        int w = (tokens - from) * groupSize;
        if (rotatedQueries.length < w * headDim) {
            rotatedQueries = new float[w * headDim];
            stepQueries = new float[w * headDim];
        }
        if (scores.length < n) {
            scores = new float[Math.max(n, scores.length * 2)];
            chosen = new int[scores.length];
            rank = new int[scores.length];
            taken = new boolean[scores.length];
            cumulative = new float[scores.length];
        }
        if (headScores.length < kvHeads * n) {
            headScores = new float[kvHeads * Math.max(n, scores.length)];
        }
        if (layer == 0) {
            Arrays.fill(cumulative, 0f);
        }
        if (!namedStep) {
            for (int h = 0; h < kvHeads; h++) {
                scoreBlocks(layer, h, queries, offset, tokens, stride, from, w, n, k, firstRecent[layer * kvHeads + h]);
            }
        }
        if (namedStep && layer == 0) {
            // Every layer of the step brings back what the turn named: choose it once.
            namedPicks = pickNamed(k, n);
        }
        for (int h = 0; h < kvHeads; h++) {
            int lh = layer * kvHeads + h;
            int picked = namedStep ? namedPicks : pick(selectionScores(h, n), k, n);
            if (regionKeys[lh] == null) {
                regionKeys[lh] = new float[spec.retrieve() * blockTokens * headDim];
                regionValues[lh] = new float[spec.retrieve() * blockTokens * headDim];
            }
            int total = 0;
            for (int c = 0; c < picked; c++) {
                total += reader.list(order[chosen[c]].block, lh, from(chosen[c]), to(chosen[c], firstRecent[lh]));
            }
            regionTotal = total;
            lastPosition = sink - 1;
            int r = 0;
            for (int c = 0; c < picked; c++) {
                MemoryBlock b = order[chosen[c]];
                b.lastUse = use;
                r = bringBack(b.block, lh, r, from(chosen[c]), to(chosen[c], firstRecent[lh]));
            }
            regionLength[lh] = r;
        }
        retrievalNanos += System.nanoTime() - start;
    }

    /**
     * Scores every block for kv head {@code h} of {@code layer} into {@link #headScores}: the best
     * logit of the step's last queries against the block's keys, for the candidates its summary
     * bounds rank highest (all blocks without a candidate limit); others score minus infinity.
     */
    private void scoreBlocks(
            int layer, int h, float[] queries, int offset, int tokens, int stride, int from, int w, int n, int k,
            int firstRecent) {
        int lh = layer * kvHeads + h;
        int nominal = scoringPosition(sink, gap);
        int qi = 0;
        for (int t = from; t < tokens; t++) {
            for (int g = 0; g < groupSize; g++, qi++) {
                int src = offset + t * stride + (h * groupSize + g) * headDim;
                System.arraycopy(queries, src, rotatedQueries, qi * headDim, headDim);
                System.arraycopy(queries, src, stepQueries, qi * headDim, headDim);
                rerotation.rotate(rotatedQueries, qi * headDim, -nominal);
            }
        }
        int base = h * n;
        int candidates = spec.candidates() == 0 ? n : Math.min(n, Math.max(k, spec.candidates()));
        if (candidates < n) {
            for (int b = 0; b < n; b++) {
                BlockSummary summary = order[b].summary;
                float best = Float.NEGATIVE_INFINITY;
                for (int q = 0; q < w; q++) {
                    best = Math.max(best, summary.score(lh, rotatedQueries, q * headDim));
                }
                scores[b] = best;
                headScores[base + b] = Float.NEGATIVE_INFINITY;
            }
            bytesRead += (long) n * pages * 2 * headDim * Short.BYTES;
            int considered = topK.select(scores, n, candidates, chosen, 0);
            for (int c = 0; c < considered; c++) {
                headScores[base + chosen[c]] = exactScore(order[chosen[c]].block, lh, firstRecent, w);
            }
        } else {
            for (int b = 0; b < n; b++) {
                headScores[base + b] = exactScore(order[b].block, lh, firstRecent, w);
            }
        }
    }

    /**
     * What kv head {@code h}'s choice ranks blocks by: its own scores, or, when heads share a
     * choice, each head's scores as a softmax over blocks summed over the layer's heads (and,
     * across layers, added to what earlier layers of the step wanted).
     */
    private float[] selectionScores(int h, int n) {
        if (spec.share().equals(MemorySpec.SHARE_HEAD)) {
            System.arraycopy(headScores, h * n, scores, 0, n);
            return scores;
        }
        if (h == 0) {
            if (!spec.share().equals(MemorySpec.SHARE_STEP)) {
                Arrays.fill(cumulative, 0, n, 0f);
            }
            float scale = (float) (1.0 / Math.sqrt(headDim));
            for (int g = 0; g < kvHeads; g++) {
                int base = g * n;
                float max = Float.NEGATIVE_INFINITY;
                for (int b = 0; b < n; b++) {
                    max = Math.max(max, headScores[base + b]);
                }
                float sum = 0f;
                for (int b = 0; b < n; b++) {
                    float e = headScores[base + b] == Float.NEGATIVE_INFINITY
                            ? 0f : (float) Math.exp((headScores[base + b] - max) * scale);
                    scores[b] = e;
                    sum += e;
                }
                for (int b = 0; b < n; b++) {
                    cumulative[b] += scores[b] / sum;
                }
            }
        }
        System.arraycopy(cumulative, 0, scores, 0, n);
        return scores;
    }

    /**
     * Chooses {@code k} of the {@code n} blocks into {@link #chosen} (indices into {@link #order},
     * ascending): best first, each followed by the {@link MemorySpec#follow()} blocks after it,
     * which hold what its tokens introduce (a frame's patches after its marker, the rest of a
     * sentence).
     */
    private int pick(float[] by, int k, int n) {
        Arrays.fill(taken, 0, n, false);
        for (int c = 0; c < n; c++) {
            rank[c] = c;
        }
        int picked = 0;
        for (int r = 0; r < n && picked < k; r++) {
            int best = r;
            for (int c = r + 1; c < n; c++) {
                if (by[rank[c]] > by[rank[best]]) {
                    best = c;
                }
            }
            int swap = rank[r];
            rank[r] = rank[best];
            rank[best] = swap;
            int b = rank[r];
            if (by[b] == Float.NEGATIVE_INFINITY) {
                break;
            }
            for (int f = 0; f <= spec.follow() && picked < k && b + f < n; f++) {
                if (!taken[b + f] && (f == 0 || order[b + f].index == order[b].index + f)) {
                    taken[b + f] = true;
                    picked++;
                }
            }
        }
        return chosenFromTaken(n);
    }

    /**
     * Sets whether this step's region is the blocks its turn named ({@link TurnMatch}); called
     * before the step's first layer retrieves.
     */
    void useNamed(boolean named) {
        this.namedStep = named;
    }

    /** Chooses the blocks the turn named ({@link TurnMatch#choose}) into {@link #chosen}. */
    private int pickNamed(int k, int n) {
        Arrays.fill(taken, 0, n, false);
        turn.choose(order, n, k, taken);
        return chosenFromTaken(n);
    }

    /** Lists the taken blocks into {@link #chosen}, in session order; returns how many. */
    private int chosenFromTaken(int n) {
        int out = 0;
        for (int b = 0; b < n; b++) {
            if (taken[b]) {
                chosen[out++] = b;
            }
        }
        return out;
    }

    /** The best logit any scoring query gets from a key of the block not held elsewhere. */
    private float exactScore(ParsedBlock p, int lh, int firstRecent, int w) {
        int n = reader.read(p, lh, firstRecent);
        bytesRead += p.payloadLengths()[lh];
        float best = Float.NEGATIVE_INFINITY;
        // Kept at its written position, a key gets exactly the logit it was written for;
        // packed, it is scored where the region's middle is.
        float[] qs = spec.keepPositions() ? stepQueries : rotatedQueries;
        for (int i = 0; i < n; i++) {
            System.arraycopy(reader.keys, reader.slot[i] * headDim, keyScratch, 0, headDim);
            if (!spec.keepPositions()) {
                rerotation.rotate(keyScratch, 0, -reader.position(p, reader.offset[i]));
            }
            for (int q = 0; q < w; q++) {
                int qo = q * headDim;
                float dot = 0f;
                for (int c = 0; c < headDim; c++) {
                    dot += qs[qo + c] * keyScratch[c];
                }
                best = Math.max(best, dot);
            }
        }
        return best;
    }

    /**
     * The position region slot {@code r} takes for a key written at {@code written}: the region
     * spans {@code [sink, sink + gap)} in session order; with {@code place=keep} a token keeps the
     * position it was written at where that fits (early content then sits where the model saw it),
     * otherwise slots are packed so that the region ends where the window begins.
     */
    private int regionPosition(int r, int written) {
        int position;
        if (spec.keepPositions()) {
            int latest = sink + gap - (regionTotal - r);
            position = Math.max(lastPosition + 1, Math.min(written, latest));
        } else {
            // Right-aligned: a region shorter than the gap (blocks partly still in the window)
            // leaves its hole next to the sinks, not between the region and the window, so that
            // retrieved tokens keep their distance to what follows them as the session wrote it.
            position = sink + gap - regionTotal + r;
        }
        lastPosition = position;
        return position;
    }

    /** The first token of block {@code b} (an index into the order) that the region takes. */
    private int from(int b) {
        return namedStep ? turn.from(b) : 0;
    }

    /** The token after the last of block {@code b} that the region takes. */
    private int to(int b, int firstRecent) {
        return namedStep ? turn.to(b, firstRecent) : firstRecent;
    }

    private int bringBack(ParsedBlock p, int lh, int r, int fromToken, int firstRecent) {
        int n = reader.read(p, lh, fromToken, firstRecent);
        bytesRead += p.payloadLengths()[lh];
        float[] keys = regionKeys[lh];
        float[] values = regionValues[lh];
        for (int i = 0; i < n; i++, r++) {
            int s = reader.slot[i];
            System.arraycopy(reader.keys, s * headDim, keys, r * headDim, headDim);
            int written = reader.position(p, reader.offset[i]);
            rerotation.rotate(keys, r * headDim, regionPosition(r, written) - written);
            System.arraycopy(reader.values, s * headDim, values, r * headDim, headDim);
        }
        return r;
    }


    /**
     * The position blocks are scored at (with {@code place=pack}): the middle of the region, so
     * that scores are logits at about the distance the retrieved keys will have from the query.
     */
    static int scoringPosition(int sink, int gap) {
        return sink + gap / 2;
    }

    int regionLength(int lh) {
        return regionLength[lh];
    }

    float[] regionKeys(int lh) {
        return regionKeys[lh];
    }

    float[] regionValues(int lh) {
        return regionValues[lh];
    }

    void releaseRegion() {
        Arrays.fill(regionLength, 0);
    }

    long retrievals() {
        return retrievals;
    }

    long retrievalNanos() {
        return retrievalNanos;
    }

    long bytesRead() {
        return bytesRead;
    }
}
