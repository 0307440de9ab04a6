package io.kvstream.runtime.cuda;

import static org.apache.flink.util.Preconditions.checkArgument;

import io.kvstream.kv.KvCache;
import io.kvstream.model.ModelConfig;
import io.kvstream.runtime.SequenceStep;

import java.util.Arrays;
import java.util.List;

/**
 * A step's batch laid out as the flat arrays the kernels read: tokens of every sequence one after
 * the other, with for each its embedding source, position, sequence and index in the sequence;
 * per sequence its cache lengths and block table; the pool slots the new keys and values go to;
 * the tokens that need logits; and the tiles of prefill attention. Pure host work, built before
 * anything is sent to the device. Arrays are kept from step to step and only grow.
 */
public final class StepPlan {

    /** Query tokens of one sequence that a prefill attention block takes together. */
    public static final int TILE_TOKENS = 16;

    private final int layers;
    private final int kvHeads;
    private final int heads;
    private final int dim;
    private final int vocab;

    private int tokens;
    private int sequences;
    private int logitRows;
    private int embeddedRows;
    private int tiles;
    private int blockTableSize;
    private int maxSlots;
    private int maxPosition;
    private boolean decodeOnly;

    private int[] embedSource = new int[0];
    private int[] position = new int[0];
    private int[] tokSeq = new int[0];
    private int[] tokIndex = new int[0];
    private int[] seqKvLen = new int[0];
    private int[] seqTable = new int[0];
    private int[] seqPages = new int[0];
    private int[] blockTable = new int[0];
    private int[] appendAddr = new int[0];
    private int[] logitTokens = new int[0];
    private int[] tileTok = new int[0];
    private int[] tileCount = new int[0];
    private float[] embedded = new float[0];

    public StepPlan(ModelConfig config) {
        this.layers = config.layers();
        this.kvHeads = config.kvHeads();
        this.heads = config.layers() * config.kvHeads();
        this.dim = config.dim();
        this.vocab = config.vocabSize();
    }

    /**
     * Lays out {@code batch}, whose steps all feed at least one token and whose caches have
     * reserved their tokens; {@code tables[s]} holds sequence {@code s}'s pages, with room for
     * its cache and the step.
     */
    public void build(List<SequenceStep> batch, BlockTable[] tables) {
        sequences = batch.size();
        tokens = 0;
        logitRows = 0;
        embeddedRows = 0;
        tiles = 0;
        blockTableSize = 0;
        decodeOnly = true;
        for (int s = 0; s < sequences; s++) {
            SequenceStep step = batch.get(s);
            checkArgument(step.count() > 0, "sequence %s feeds no token", s);
            tokens += step.count();
            logitRows += step.logitRows();
            blockTableSize += tables[s].size();
            decodeOnly &= step.count() == 1;
            for (int i = 0; i < step.count(); i++) {
                if (step.isEmbedded(i)) {
                    embeddedRows++;
                }
            }
            tiles += (step.count() + TILE_TOKENS - 1) / TILE_TOKENS;
        }
        ensureCapacity();
        int t = 0;
        int r = 0;
        int e = 0;
        int tile = 0;
        int tableAt = 0;
        maxSlots = 0;
        maxPosition = 0;
        for (int s = 0; s < sequences; s++) {
            SequenceStep step = batch.get(s);
            KvCache cache = step.cache();
            BlockTable table = tables[s];
            int count = step.count();
            seqTable[s] = tableAt;
            seqPages[s] = table.pagesPerHead();
            tableAt += table.copyTo(blockTable, tableAt);
            for (int lh = 0; lh < heads; lh++) {
                int len = cache.length(lh / kvHeads, lh % kvHeads);
                checkArgument(len + count <= table.capacity(),
                        "sequence %s head %s: %s slots do not fit the %s its pages hold", s, lh, len + count, table.capacity());
                seqKvLen[s * heads + lh] = len;
                maxSlots = Math.max(maxSlots, len + count);
            }
            int base = cache.nextPosition();
            maxPosition = Math.max(maxPosition, base + count);
            for (int i = 0; i < count; i++, t++) {
                tokSeq[t] = s;
                tokIndex[t] = i;
                position[t] = base + i;
                if (step.isEmbedded(i)) {
                    System.arraycopy(step.embeddings(), i * dim, embedded, e * dim, dim);
                    embedSource[t] = -1 - e;
                    e++;
                } else {
                    int token = step.token(i);
                    if (token < 0 || token >= vocab) {
                        throw new IllegalArgumentException(String.format(
                                "token id %d is outside the vocabulary of %d", token, vocab));
                    }
                    embedSource[t] = token;
                }
            }
            int first = t - count;
            for (int l = 0; l < layers; l++) {
                for (int i = 0; i < count; i++) {
                    for (int h = 0; h < kvHeads; h++) {
                        int lh = l * kvHeads + h;
                        appendAddr[(l * tokens + first + i) * kvHeads + h] =
                                table.address(lh, seqKvLen[s * heads + lh] + i);
                    }
                }
            }
            for (int i = step.firstLogit(); i < count; i++) {
                logitTokens[r++] = first + i;
            }
            for (int i = 0; i < count; i += TILE_TOKENS) {
                tileTok[tile] = first + i;
                tileCount[tile] = Math.min(TILE_TOKENS, count - i);
                tile++;
            }
        }
    }

    private void ensureCapacity() {
        if (embedSource.length < tokens) {
            int cap = Math.max(tokens, embedSource.length * 2);
            embedSource = new int[cap];
            position = new int[cap];
            tokSeq = new int[cap];
            tokIndex = new int[cap];
            logitTokens = new int[cap];
        }
        if (appendAddr.length < layers * tokens * kvHeads) {
            appendAddr = new int[Math.max(layers * tokens * kvHeads, appendAddr.length * 2)];
        }
        if (seqTable.length < sequences) {
            int cap = Math.max(sequences, seqTable.length * 2);
            seqTable = new int[cap];
            seqPages = new int[cap];
            seqKvLen = new int[cap * heads];
        }
        if (blockTable.length < blockTableSize) {
            blockTable = new int[Math.max(blockTableSize, blockTable.length * 2)];
        }
        if (tileTok.length < tiles) {
            tileTok = new int[Math.max(tiles, tileTok.length * 2)];
            tileCount = new int[tileTok.length];
        }
        if (embedded.length < embeddedRows * dim) {
            embedded = Arrays.copyOf(embedded, Math.max(embeddedRows * dim, embedded.length * 2));
        }
    }

    /** Tokens of the step, all sequences together. */
    public int tokens() {
        return tokens;
    }

    public int sequences() {
        return sequences;
    }

    /** Rows of logits the step returns, in batch order. */
    public int logitRows() {
        return logitRows;
    }

    /** Tokens that carry their own embedding (video patches). */
    public int embeddedRows() {
        return embeddedRows;
    }

    public int tiles() {
        return tiles;
    }

    public int blockTableSize() {
        return blockTableSize;
    }

    /** Most slots any token of the step attends over. */
    public int maxSlots() {
        return maxSlots;
    }

    /** One past the largest RoPE position of the step. */
    public int maxPosition() {
        return maxPosition;
    }

    /** Whether every sequence feeds one token: attention then splits over the cache instead of tiling queries. */
    public boolean decodeOnly() {
        return decodeOnly;
    }

    /** Per token: its token id, or {@code -1 - r} for row {@code r} of {@link #embedded()}. */
    public int[] embedSource() {
        return embedSource;
    }

    /** Per token: its RoPE position. */
    public int[] position() {
        return position;
    }

    /** Per token: its sequence in the batch. */
    public int[] tokSeq() {
        return tokSeq;
    }

    /** Per token: its index among its sequence's tokens of this step. */
    public int[] tokIndex() {
        return tokIndex;
    }

    /** Per sequence and (layer, kv head): slots held before the step, {@code [s][lh]}. */
    public int[] seqKvLen() {
        return seqKvLen;
    }

    /** Per sequence: where its block table starts in {@link #blockTable()}. */
    public int[] seqTable() {
        return seqTable;
    }

    /** Per sequence: pages per head in its block table. */
    public int[] seqPages() {
        return seqPages;
    }

    /** The block tables of all sequences, one after the other. */
    public int[] blockTable() {
        return blockTable;
    }

    /** Pool slots for the step's keys and values, {@code [layer][token][kvHead]}. */
    public int[] appendAddr() {
        return appendAddr;
    }

    /** Per logit row: the token whose hidden state it comes from. */
    public int[] logitTokens() {
        return logitTokens;
    }

    /** Per prefill tile: its first token. */
    public int[] tileTok() {
        return tileTok;
    }

    /** Per prefill tile: its number of tokens, at most {@link #TILE_TOKENS}. */
    public int[] tileCount() {
        return tileCount;
    }

    /** Carried embeddings, {@code [row][dim]}. */
    public float[] embedded() {
        return embedded;
    }
}
