package io.kvstream.kv.memory;

import static org.apache.flink.util.Preconditions.checkArgument;

import io.kvstream.kv.RopeSpec;
import io.kvstream.kv.block.BlockFormat;
import io.kvstream.kv.block.BlockLayout;
import io.kvstream.kv.block.CorruptBlockException;
import io.kvstream.kv.block.EncodedBlock;
import io.kvstream.kv.block.ParsedBlock;
import io.kvstream.kv.codec.KvCodec;
import io.kvstream.kv.evict.Rerotation;
import io.kvstream.kv.evict.TopK;

import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A session's memory tier: the blocks its window evicted, kept in the session's codec with a
 * {@link BlockSummary} each, and the region of retrieved blocks that attention covers for the
 * current turn.
 *
 * <p>At each prompt step and layer, the step's last {@link MemorySpec#queries()} queries score
 * every block by its summary, per kv head, and the best {@link MemorySpec#retrieve()} blocks are
 * decoded into the region, in session order, with keys rotated to the positions right after the
 * sinks. The window's slots sit after the region ({@link #gap()}), so every position stays
 * within {@code sink + retrieve * blockTokens + window}, inside what the model was trained on.
 *
 * <p><b>Limit.</b> The stored bytes (blocks and summaries) stay within {@link
 * MemorySpec#limitBytes()}: when a new block would pass it, the blocks brought back least recently
 * go first (a block counts as used when it is added; ties go to the older block), until it fits.
 * The newest block always stays. {@link #droppedBlocks()} counts what went.
 *
 * <p>Not thread-safe; the forward pass calls {@link #retrieve} from one thread.
 */
public final class SessionMemory {

    private static final boolean DEBUG = Boolean.getBoolean("kvstream.memory.debug");
    private final MemorySpec spec;
    private final KvCodec codec;
    private final BlockLayout layout;
    private final Rerotation rerotation;
    private final int kvHeads;
    private final int headDim;
    private final int groupSize;
    private final int blockTokens;
    private final int sink;
    private final int pages;

    private final TreeMap<Integer, MemoryBlock> blocks = new TreeMap<>();
    private final TreeSet<Integer> dirty = new TreeSet<>();
    private long storedBytes;
    /** Ticks at every block added or brought back: the order of last use, for the limit. */
    private long clock;
    private long dropped;

    private final float[][] regionKeys;
    private final float[][] regionValues;
    private final int[] regionLength;

    private final float[] runKeys;
    private final float[] runValues;
    private final float[] keyScratch;
    private final TopK topK = new TopK();
    private float[] rotatedQueries = new float[0];
    private float[] stepQueries = new float[0];
    private float[] scores = new float[0];
    private int[] chosen = new int[0];
    private int[] rank = new int[0];
    private boolean[] taken = new boolean[0];
    private float[] headScores = new float[0];
    private int regionTotal;
    private int lastPosition;
    /** Per block, what the layers of the current step so far want of it (shared choices). */
    private float[] cumulative = new float[0];
    private MemoryBlock[] order = new MemoryBlock[0];

    private long retrievals;
    private long retrievalNanos;
    private long bytesRead;

    /**
     * @param codec a codec instance of the memory's own (codecs hold scratch buffers)
     * @param heads query heads of the model
     * @param sink the window's sink tokens, which stay in the working set
     */
    public SessionMemory(MemorySpec spec, KvCodec codec, BlockLayout layout, RopeSpec rope, int heads, int sink) {
        checkArgument(heads % layout.kvHeads() == 0, "%s heads do not group over %s kv heads", heads, layout.kvHeads());
        checkArgument(layout.blockTokens() % spec.pageTokens() == 0,
                "memory pages of %s tokens do not divide blocks of %s", spec.pageTokens(), layout.blockTokens());
        this.spec = spec;
        this.codec = codec;
        this.layout = layout;
        this.rerotation = new Rerotation(rope);
        this.kvHeads = layout.kvHeads();
        this.headDim = layout.headDim();
        this.groupSize = heads / layout.kvHeads();
        this.blockTokens = layout.blockTokens();
        this.sink = sink;
        this.pages = blockTokens / spec.pageTokens();
        int n = layout.heads();
        this.regionKeys = new float[n][];
        this.regionValues = new float[n][];
        this.regionLength = new int[n];
        this.runKeys = new float[blockTokens * headDim];
        this.runValues = new float[blockTokens * headDim];
        this.keyScratch = new float[headDim];
    }

    public MemorySpec spec() {
        return spec;
    }

    /** Slots between the sinks and the window that the retrieved region may take. */
    public int gap() {
        return Math.min(spec.retrieve(), blocks.size()) * blockTokens;
    }

    /**
     * The position blocks are scored at: the middle of the region, so that scores are logits at
     * about the distance the retrieved keys will have from the query.
     */
    public int scoringPosition() {
        return sink + gap() / 2;
    }

    public int blockCount() {
        return blocks.size();
    }

    /** Bytes the memory writes to state: every block's stored form. */
    public long storedBytes() {
        return storedBytes;
    }

    public long droppedBlocks() {
        return dropped;
    }

    /** Prompt steps that retrieved, time they spent retrieving, and bytes they read from memory. */
    public long retrievals() {
        return retrievals;
    }

    public long retrievalNanos() {
        return retrievalNanos;
    }

    public long bytesRead() {
        return bytesRead;
    }

    // ---------------------------------------------------------------- adding

    /**
     * Keeps a block that the window has started to evict, as the working set stored it: sealed,
     * every token still held. Applies the limit afterwards.
     */
    public void add(EncodedBlock working) {
        ParsedBlock parsed;
        try {
            parsed = BlockFormat.read("memory", working.index(), working.bytes(), layout);
        } catch (CorruptBlockException e) {
            throw new IllegalStateException("the working set wrote a block it cannot read back", e);
        }
        MemoryBlock block = new MemoryBlock(working.index(), parsed, summarize(parsed), ++clock);
        MemoryBlock previous = blocks.put(block.index, block);
        if (previous != null) {
            storedBytes -= previous.storedBytes;
        }
        storedBytes += block.storedBytes;
        dirty.add(block.index);
        while (storedBytes > spec.limitBytes() && blocks.size() > 1) {
            drop(leastRecent(block.index));
        }
    }

    private BlockSummary summarize(ParsedBlock p) {
        BlockSummary summary = BlockSummary.empty(layout.heads(), pages, headDim);
        int base = p.index() * blockTokens;
        for (int lh = 0; lh < layout.heads(); lh++) {
            int held = decodeRun(p, lh);
            int slot = 0;
            for (int j = 0; j < p.appended() && slot < held; j++) {
                if (!p.holds(lh, j)) {
                    continue;
                }
                int s = slot++;
                if (base + j < sink) {
                    continue;
                }
                System.arraycopy(runKeys, s * headDim, keyScratch, 0, headDim);
                rerotation.rotate(keyScratch, 0, -position(p, j));
                summary.include(lh, j / spec.pageTokens(), keyScratch, 0);
            }
        }
        return summary;
    }

    private int leastRecent(int except) {
        MemoryBlock worst = null;
        for (MemoryBlock b : blocks.values()) {
            if (b.index != except && (worst == null || b.lastUse < worst.lastUse)) {
                worst = b;
            }
        }
        return worst.index;
    }

    private void drop(int index) {
        MemoryBlock b = blocks.remove(index);
        storedBytes -= b.storedBytes;
        dirty.add(index);
        dropped++;
    }

    // ---------------------------------------------------------------- retrieval

    /**
     * Chooses and decodes the region of every kv head of {@code layer} for a prompt step.
     *
     * @param queries the step's rotated queries, {@code [token][stride]}, heads side by side
     * @param firstRecent per (layer, kv head), the oldest token the window holds after the sinks
     *     (tokens from it on are in attention already and are not brought back twice)
     */
    public void retrieve(int layer, float[] queries, int offset, int tokens, int stride, int[] firstRecent) {
        long start = System.nanoTime();
        int n = blocks.size();
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
            order = new MemoryBlock[scores.length];
        }
        int i = 0;
        for (MemoryBlock b : blocks.values()) {
            order[i++] = b;
        }
        if (headScores.length < kvHeads * n) {
            headScores = new float[kvHeads * Math.max(n, scores.length)];
        }
        if (layer == 0) {
            Arrays.fill(cumulative, 0f);
        }
        for (int h = 0; h < kvHeads; h++) {
            scoreBlocks(layer, h, queries, offset, tokens, stride, from, w, n, k, firstRecent[layer * kvHeads + h]);
        }
        for (int h = 0; h < kvHeads; h++) {
            int lh = layer * kvHeads + h;
            int picked = pick(selectionScores(h, n), k, n);
            if (regionKeys[lh] == null) {
                regionKeys[lh] = new float[spec.retrieve() * blockTokens * headDim];
                regionValues[lh] = new float[spec.retrieve() * blockTokens * headDim];
            }
            if (DEBUG && tokens < 40) {
                StringBuilder sb = new StringBuilder("retrieve l=" + layer + " h=" + h + " steptokens=" + tokens + ":");
                for (int c = 0; c < picked; c++) {
                    sb.append(' ').append(order[chosen[c]].index);
                }
                System.err.println(sb);
            }
            int total = 0;
            for (int c = 0; c < picked; c++) {
                total += returning(order[chosen[c]].block, lh, firstRecent[lh]);
            }
            regionTotal = total;
            lastPosition = sink - 1;
            int r = 0;
            for (int c = 0; c < picked; c++) {
                MemoryBlock b = order[chosen[c]];
                b.lastUse = ++clock;
                r = bringBack(b.block, lh, r, firstRecent[lh]);
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
        int nominal = scoringPosition();
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
        int held = decodeRun(p, lh);
        bytesRead += p.payloadLengths()[lh];
        int base = p.index() * blockTokens;
        float best = Float.NEGATIVE_INFINITY;
        int slot = 0;
        for (int j = 0; j < p.appended() && slot < held; j++) {
            if (!p.holds(lh, j)) {
                continue;
            }
            int s = slot++;
            int token = base + j;
            if (token < sink || token >= firstRecent) {
                continue;
            }
            // Kept at its written position, a key gets exactly the logit it was written for;
            // packed, it is scored where the region's middle is.
            float[] qs = spec.keepPositions() ? stepQueries : rotatedQueries;
            System.arraycopy(runKeys, s * headDim, keyScratch, 0, headDim);
            if (!spec.keepPositions()) {
                rerotation.rotate(keyScratch, 0, -position(p, j));
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

    /** Tokens of head {@code lh}'s run that would come back: held, no sink, not in the window. */
    private int returning(ParsedBlock p, int lh, int firstRecent) {
        int base = p.index() * blockTokens;
        int n = 0;
        for (int j = 0; j < p.appended(); j++) {
            int token = base + j;
            if (p.holds(lh, j) && token >= sink && token < firstRecent) {
                n++;
            }
        }
        return n;
    }

    /**
     * The position region slot {@code r} takes for a key written at {@code written}: the region
     * spans {@code [sink, sink + gap)} in session order; with {@code place=keep} a token keeps the
     * position it was written at where that fits (early content then sits where the model saw it),
     * otherwise slots are packed right after the sinks.
     */
    private int regionPosition(int r, int written) {
        int position;
        if (spec.keepPositions()) {
            int latest = sink + gap() - (regionTotal - r);
            position = Math.max(lastPosition + 1, Math.min(written, latest));
        } else {
            position = sink + r;
        }
        lastPosition = position;
        return position;
    }

    private int bringBack(ParsedBlock p, int lh, int r, int firstRecent) {
        int held = decodeRun(p, lh);
        bytesRead += p.payloadLengths()[lh];
        float[] keys = regionKeys[lh];
        float[] values = regionValues[lh];
        int base = p.index() * blockTokens;
        int slot = 0;
        for (int j = 0; j < p.appended() && slot < held; j++) {
            if (!p.holds(lh, j)) {
                continue;
            }
            int s = slot++;
            int token = base + j;
            if (token < sink || token >= firstRecent) {
                continue;
            }
            System.arraycopy(runKeys, s * headDim, keys, r * headDim, headDim);
            int written = position(p, j);
            rerotation.rotate(keys, r * headDim, regionPosition(r, written) - written);
            System.arraycopy(runValues, s * headDim, values, r * headDim, headDim);
            r++;
        }
        return r;
    }

    /** Decodes head {@code lh}'s run of a block into the run scratch; returns its tokens. */
    private int decodeRun(ParsedBlock p, int lh) {
        int held = 0;
        for (byte b : p.bitmaps()[lh]) {
            held += Integer.bitCount(b & 0xff);
        }
        int residual = codec.residual(held, p.appended() < blockTokens);
        codec.decode(p.bytes(), p.payloadOffsets()[lh], held, residual, runKeys, runValues, 0);
        return held;
    }

    private int position(ParsedBlock p, int j) {
        return p.ropePositions() == null ? p.index() * blockTokens + j : p.ropePositions()[j];
    }

    public int regionLength(int lh) {
        return regionLength[lh];
    }

    public float[] regionKeys(int lh) {
        return regionKeys[lh];
    }

    public float[] regionValues(int lh) {
        return regionValues[lh];
    }

    /** Forgets the region, so that attention covers the working set alone until the next retrieval. */
    public void releaseRegion() {
        Arrays.fill(regionLength, 0);
    }

    // ---------------------------------------------------------------- state

    /** Indices of the blocks added or dropped since {@link #markClean()}, ascending. */
    public int[] dirtyBlocks() {
        int[] out = new int[dirty.size()];
        int i = 0;
        for (int b : dirty) {
            out[i++] = b;
        }
        return out;
    }

    public void markClean() {
        dirty.clear();
    }

    /** The stored form of block {@code index}, or null when the memory does not hold it. */
    @Nullable
    public EncodedBlock stored(int index) {
        MemoryBlock b = blocks.get(index);
        return b == null ? null : b.stored(spec.pageTokens());
    }

    /** Every block's stored form, in session order. */
    public List<EncodedBlock> stored() {
        List<EncodedBlock> out = new ArrayList<>();
        for (MemoryBlock b : blocks.values()) {
            out.add(b.stored(spec.pageTokens()));
        }
        return out;
    }

    /** Forgets every block; what state held is to be deleted. */
    public void clear() {
        dirty.addAll(blocks.keySet());
        blocks.clear();
        storedBytes = 0;
        releaseRegion();
    }

    /**
     * Replaces the contents with stored blocks. Recency is not stored: after a restore, the
     * older block goes first.
     */
    public void restore(String session, Iterable<EncodedBlock> stored) throws CorruptBlockException {
        blocks.clear();
        storedBytes = 0;
        releaseRegion();
        for (EncodedBlock e : stored) {
            MemoryBlockFormat.Read read = MemoryBlockFormat.read(session, e.index(), e.bytes(), layout.heads(), headDim);
            if (read.pageTokens() != spec.pageTokens()) {
                throw new CorruptBlockException(session, e.index(),
                        "memory summarized with pages of " + read.pageTokens() + ", the spec says " + spec.pageTokens());
            }
            ParsedBlock parsed = BlockFormat.read(session, e.index(), read.block(), layout);
            MemoryBlock block = new MemoryBlock(e.index(), parsed, read.summary(), ++clock);
            blocks.put(block.index, block);
            storedBytes += block.storedBytes;
        }
        dirty.clear();
    }
}
