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

import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A session's memory tier: the blocks its window evicted, kept in the session's codec with a
 * {@link BlockSummary} each, and the region of retrieved blocks that attention covers for the
 * current turn.
 *
 * <p>At each prompt step of an answered turn and each layer, a {@link Retriever} scores the
 * blocks against the step's last {@link MemorySpec#queries()} queries and decodes the best {@link
 * MemorySpec#retrieve()} into the region, in session order, keys rotated to the positions right
 * after the sinks. The window's slots sit after the region ({@link #gap()}), so every position
 * stays within {@code sink + retrieve * blockTokens + window}, inside what the model was trained on.
 *
 * <p><b>Limit.</b> The stored bytes (blocks and summaries) stay within {@link
 * MemorySpec#limitBytes()}: when a new block would pass it, the blocks brought back least recently
 * go first (a block counts as used when it is added and when it is retrieved; ties go to the older
 * block), until it fits.
 * The newest block always stays. {@link #droppedBlocks()} counts what went.
 *
 * <p>Not thread-safe; the forward pass calls {@link #retrieve} from one thread.
 */
public final class SessionMemory {

    private final MemorySpec spec;
    private final BlockLayout layout;
    private final Rerotation rerotation;
    private final RunReader reader;
    private final Retriever retriever;
    @Nullable private final TurnMatch turn;
    private final int headDim;
    private final int blockTokens;
    private final int sink;
    private final int pages;

    private final TreeMap<Integer, MemoryBlock> blocks = new TreeMap<>();
    private final TreeSet<Integer> dirty = new TreeSet<>();
    private long storedBytes;
    /** Ticks at every block added and every retrieval: the order of last use, for the limit. */
    private long clock;
    private long dropped;
    private final float[] keyScratch;
    /** The blocks in session order, for retrieval; rebuilt only after blocks came or went. */
    private MemoryBlock[] order = new MemoryBlock[0];
    private boolean orderStale = true;

    /**
     * @param codecs per layer, codec instances of the memory's own (codecs hold scratch buffers)
     * @param heads query heads of the model
     * @param sink the window's sink tokens, which stay in the working set
     */
    public SessionMemory(MemorySpec spec, KvCodec[] codecs, BlockLayout layout, RopeSpec rope, int heads, int sink) {
        checkArgument(heads % layout.kvHeads() == 0, "%s heads do not group over %s kv heads", heads, layout.kvHeads());
        checkArgument(layout.blockTokens() % spec.pageTokens() == 0,
                "memory pages of %s tokens do not divide blocks of %s", spec.pageTokens(), layout.blockTokens());
        this.spec = spec;
        this.layout = layout;
        this.rerotation = new Rerotation(rope);
        this.headDim = layout.headDim();
        this.blockTokens = layout.blockTokens();
        this.sink = sink;
        this.pages = blockTokens / spec.pageTokens();
        this.reader = new RunReader(codecs, layout.kvHeads(), blockTokens, sink, headDim);
        this.turn = spec.matchesTokens() ? new TurnMatch(spec, blockTokens) : null;
        this.retriever = new Retriever(
                spec, reader, rerotation, layout.heads(), heads, layout.kvHeads(), headDim, blockTokens, sink, turn);
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
     * The position blocks are scored at (with {@code place=pack}): the middle of the region, so
     * that scores are logits at about the distance the retrieved keys will have from the query.
     */
    public int scoringPosition() {
        return Retriever.scoringPosition(sink, gap());
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
        return retriever.retrievals();
    }

    public long retrievalNanos() {
        return retriever.retrievalNanos();
    }

    public long bytesRead() {
        return retriever.bytesRead();
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
        orderStale = true;
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
        for (int lh = 0; lh < layout.heads(); lh++) {
            int n = reader.read(p, lh, Integer.MAX_VALUE);
            for (int i = 0; i < n; i++) {
                System.arraycopy(reader.keys, reader.slot[i] * headDim, keyScratch, 0, headDim);
                rerotation.rotate(keyScratch, 0, -reader.position(p, reader.offset[i]));
                summary.include(lh, reader.offset[i] / spec.pageTokens(), keyScratch, 0);
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
        orderStale = true;
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
        int n = blocks.size();
        refreshOrder();
        retriever.retrieve(layer, order, n, gap(), ++clock, queries, offset, tokens, stride, firstRecent);
    }

    /**
     * Finds what a prompt step's turn names in memory (see {@link MemorySpec#match()}); the step's
     * retrievals then bring those blocks back. Called before the step's first layer retrieves;
     * does nothing unless the spec matches tokens.
     *
     * @param stepIds the step's token ids, {@code stepTokens} of them
     * @param tokenIds per session token, its id; {@code slotTokens} says the token of each of the
     *     working set's {@code held} slots
     * @param firstRecent the oldest token the window holds after the sinks
     * @return whether the turn named blocks
     */
    public boolean matchTurn(int[] stepIds, int stepTokens, int[] tokenIds, int[] slotTokens, int held,
                             int firstRecent) {
        if (turn == null) {
            return false;
        }
        refreshOrder();
        turn.match(order, blocks.size(), stepIds, stepTokens, tokenIds, slotTokens, held, sink, firstRecent);
        boolean named = turn.namedCount() > 0;
        retriever.useNamed(named);
        return named;
    }

    private void refreshOrder() {
        int n = blocks.size();
        if (orderStale) {
            if (order.length < n) {
                order = new MemoryBlock[Math.max(n, order.length * 2)];
            }
            int i = 0;
            for (MemoryBlock b : blocks.values()) {
                order[i++] = b;
            }
            orderStale = false;
        }
    }

    public int regionLength(int lh) {
        return retriever.regionLength(lh);
    }

    public float[] regionKeys(int lh) {
        return retriever.regionKeys(lh);
    }

    public float[] regionValues(int lh) {
        return retriever.regionValues(lh);
    }

    /** Forgets the region, so that attention covers the working set alone until the next retrieval. */
    public void releaseRegion() {
        retriever.releaseRegion();
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
        orderStale = true;
        storedBytes = 0;
        releaseRegion();
    }

    /**
     * Replaces the contents with stored blocks. Recency is not stored: after a restore, the
     * older block goes first.
     */
    public void restore(String session, Iterable<EncodedBlock> stored) throws CorruptBlockException {
        blocks.clear();
        orderStale = true;
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
            orderStale = true;
            storedBytes += block.storedBytes;
        }
        dirty.clear();
    }
}
