package io.kvstream.kv;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkNotNull;
import static org.apache.flink.util.Preconditions.checkState;

import io.kvstream.kv.block.BlockFormat;
import io.kvstream.kv.block.BlockLayout;
import io.kvstream.kv.block.CorruptBlockException;
import io.kvstream.kv.block.EncodedBlock;
import io.kvstream.kv.block.ParsedBlock;
import io.kvstream.kv.codec.KvCodec;
import io.kvstream.kv.evict.EvictionPolicy;
import io.kvstream.kv.evict.Rerotation;
import io.kvstream.kv.evict.WindowPolicy;
import io.kvstream.kv.memory.SessionMemory;
import io.kvstream.kv.state.EncodedBlockSerializer;
import io.kvstream.kv.state.HistoryChunks;
import io.kvstream.kv.state.SessionMeta;

import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.TreeMap;

/**
 * A cache whose tokens live, between turns, as encoded blocks of {@code blockTokens} token
 * indices (one RocksDB value each), and which the forward pass sees as dense per-head arrays
 * holding exactly what the codec reproduces.
 *
 * <p>At each {@link #commit}, the step's tokens join their block; every (block, head) run that
 * changed, by new tokens or by eviction, is encoded and decoded straight back into the dense
 * arrays. So quantization error (and fp16 rounding of KIVI's residual) is what later steps
 * attend over, and the stored bytes are what the forward pass used. The current step itself
 * attends over its own tokens at full precision, as in KIVI.
 *
 * <p>With a {@code window} policy, positions are counted inside the cache: blocks keep keys
 * rotated to the position they were written at, and the dense keys are those rotated by {@code
 * slot - position}, so evicting a token moves later keys down without re-encoding them.
 *
 * <p>With a {@code memory} part, blocks the window starts to evict go to a {@link SessionMemory}
 * as they were stored, and prompt steps bring the best of them back into a region that attention
 * covers before the held slots; the held slots after the sinks then take positions after that
 * region ({@link SessionMemory#gap()}).
 *
 * <p>Not thread-safe, except the {@link #attentionObserver()}, which the forward pass may call
 * from several threads during a step.
 */
public final class CompressedKvCache implements KvCache {

    public static final int DEFAULT_BLOCK_TOKENS = 64;

    private static final float[] NO_SCORES = new float[0];

    /** Characters of a model fingerprint, for {@link #storedBytes()}. */
    public static final int FINGERPRINT_CHARS = 32;
    private static final String FINGERPRINT_PLACEHOLDER = "0".repeat(FINGERPRINT_CHARS);

    private final KvSpec spec;
    private final String specString;
    private final KvCodec codec;
    /** Per layer: a KIVI spec may give layers their own value bits. */
    private final KvCodec[] codecs;
    @Nullable private final EvictionPolicy policy;
    @Nullable private final Rerotation rerotation;
    @Nullable private final SessionMemory memory;
    /** Sink slots of a window, which keep their positions when a memory gap opens after them. */
    private final int sink;
    /** Most tokens a step may feed: the window's count, so that one step cannot flood attention. */
    private final int maxStepTokens;
    private final BlockLayout layout;
    private final int layers;
    private final int kvHeads;
    private final int headDim;
    private final int groupSize;
    private final int maxTokens;
    private final int blockTokens;
    /** The largest encoding of an open run: its buffer, once grown to this, never grows again. */
    private final int openRunBytes;
    /** Per (layer, head), an open run's buffer left by a run that sealed, for the next block. */
    private final byte[][] spareOpenRuns;
    private final int heads;

    private final float[][] keys;
    /** Keys at the position they were written at; the same arrays as {@link #keys} unless re-rotating. */
    private final float[][] rawKeys;
    private final float[][] values;
    private final int[][] slotTokens;
    @Nullable private final float[][] scores;
    private final Object[] locks;
    private final int[] lengths;
    @Nullable private final AttentionObserver observer;

    private int capacity;
    private int tokens;
    private int pendingStep;
    /** Tokens {@link #append appended} since the last commit, held as computed. */
    private int uncommitted;
    /** Per token, the position its key was rotated to when written (re-rotating caches only). */
    private int[] ropePositions = new int[0];

    private final ArrayList<Block> blocks = new ArrayList<>();
    private final BitSet dirty = new BitSet();
    private int[] changedBlocks = new int[8];
    private int changedCount;
    private final int[] rotateFrom;
    private int[] keep = new int[0];
    /** Positions that the held slots after the sinks skip, for the memory's retrieved region. */
    private int gap;
    private final int[] firstRecent;
    /** The most slots any step attended over (retrieved region, held slots and its own tokens). */
    private int maxAttended;
    /**
     * Per token, its id, kept (and stored with the blocks) when the memory matches tokens; null
     * otherwise, so that other caches store exactly what they did before ids existed.
     */
    @Nullable private int[] tokenIds;
    /** The ids of the step being run ({@link #stepTokenIds}); -1 count when not given. */
    private int[] stepIds = new int[0];
    private int stepIdCount = -1;
    /** The first token of the turn being answered ({@link #startTurn}). */
    private int turnFirstToken;
    /** Whether that turn named memory blocks and attends over them instead of the window. */
    private boolean focused;

    public CompressedKvCache(
            KvSpec spec, int layers, int heads, int kvHeads, int headDim, int maxTokens, RopeSpec rope) {
        this(spec, layers, heads, kvHeads, headDim, maxTokens, rope, DEFAULT_BLOCK_TOKENS);
    }

    /**
     * @param heads query heads, to map an observed query head to its kv head
     * @param maxTokens the model's context: the bound on positions for caches that keep them
     * @param rope the model's RoPE, for re-rotating keys when positions are counted in the cache
     * @param blockTokens token indices per block; a multiple of the codec's key group
     */
    public CompressedKvCache(
            KvSpec spec, int layers, int heads, int kvHeads, int headDim, int maxTokens, RopeSpec rope,
            int blockTokens) {
        checkArgument(
                layers > 0 && kvHeads > 0 && headDim > 0 && maxTokens > 0 && heads > 0 && heads % kvHeads == 0,
                "bad cache shape: layers=%s heads=%s kvHeads=%s headDim=%s maxTokens=%s",
                layers, heads, kvHeads, headDim, maxTokens);
        checkArgument(rope.headDim() == headDim, "RoPE head dim %s differs from %s", rope.headDim(), headDim);
        checkArgument(blockTokens > 0 && blockTokens <= 0xffff, "bad block size %s", blockTokens);
        this.spec = checkNotNull(spec);
        this.specString = spec.toString();
        checkArgument(spec.layersNamed() == 0 || spec.layersNamed() == layers,
                "kv spec %s names value bits for %s layers, the model has %s", spec, spec.layersNamed(), layers);
        this.codecs = codecsPerLayer(spec, headDim, layers);
        this.codec = codecs[0];
        checkArgument(
                blockTokens % codec.keyGroup() == 0,
                "block of %s tokens does not hold whole key groups of %s", blockTokens, codec.keyGroup());
        this.policy = spec.newPolicy();
        this.rerotation = policy != null && policy.positionsInCache() ? new Rerotation(rope) : null;
        WindowPolicy window = policy instanceof WindowPolicy ? (WindowPolicy) policy : null;
        this.sink = window != null ? window.sink() : 0;
        this.maxStepTokens = window != null && window.recent().tokens() > 0 ? window.recent().tokens() : Integer.MAX_VALUE;
        this.layers = layers;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.groupSize = heads / kvHeads;
        this.maxTokens = maxTokens;
        this.blockTokens = blockTokens;
        this.openRunBytes = openRunBytes(codecs, blockTokens);
        this.layout = BlockLayout.of(codec, layers, kvHeads, headDim, blockTokens);
        if (spec.memory() != null) {
            checkArgument(window != null && maxStepTokens >= blockTokens,
                    "a memory needs a window of at least one block (%s tokens) to evict from: %s", blockTokens, spec);
            // The memory decodes with codec instances of its own: codecs hold scratch buffers.
            this.memory = new SessionMemory(
                    spec.memory(), codecsPerLayer(spec, headDim, layers), layout, rope, heads, sink);
        } else {
            this.memory = null;
        }
        this.tokenIds = memory != null && memory.spec().matchesTokens() ? new int[0] : null;
        int n = layers * kvHeads;
        this.keys = new float[n][0];
        this.rawKeys = rerotation != null ? new float[n][0] : keys;
        this.values = new float[n][0];
        this.slotTokens = new int[n][0];
        this.lengths = new int[n];
        this.spareOpenRuns = new byte[n][];
        this.rotateFrom = new int[n];
        this.firstRecent = new int[n];
        this.locks = new Object[n];
        for (int i = 0; i < n; i++) {
            locks[i] = new Object();
        }
        boolean observes = policy != null && (policy.observes(1) || policy.observes(2));
        this.scores = observes ? new float[n][0] : null;
        this.observer = observes ? this::observe : null;
    }

    // ---------------------------------------------------------------- KvCache

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
        return tokens;
    }

    @Override
    public int length(int layer, int kvHead) {
        return lengths[layer * kvHeads + kvHead];
    }

    @Override
    public int remaining() {
        return rerotation != null ? Integer.MAX_VALUE : maxTokens - tokens;
    }

    @Override
    public int nextPosition() {
        // Window caches hold the same number of slots in every head.
        return rerotation != null ? lengths[0] + gap : tokens;
    }

    @Override
    public void reserve(int stepTokens) {
        // Checked by hand: Preconditions' varargs box and allocate at every decode step.
        if (stepTokens < 0) {
            throw new IllegalArgumentException("negative step " + stepTokens);
        }
        if (rerotation == null && tokens + stepTokens > maxTokens) {
            throw new IllegalStateException(String.format(
                    "KV cache holds %d tokens and cannot take %d more: the limit is %d",
                    tokens, stepTokens, maxTokens));
        }
        pendingStep = stepTokens;
        int needed = maxLength() + stepTokens;
        if (needed <= capacity) {
            return;
        }
        int newCapacity = Math.max(needed, Math.max(64, capacity * 2));
        if (rerotation == null) {
            newCapacity = Math.min(newCapacity, Math.max(needed, maxTokens));
        }
        for (int i = 0; i < keys.length; i++) {
            keys[i] = Arrays.copyOf(keys[i], newCapacity * headDim);
            if (rawKeys != keys) {
                rawKeys[i] = Arrays.copyOf(rawKeys[i], newCapacity * headDim);
            }
            values[i] = Arrays.copyOf(values[i], newCapacity * headDim);
            slotTokens[i] = Arrays.copyOf(slotTokens[i], newCapacity);
            if (scores != null) {
                synchronized (locks[i]) {
                    scores[i] = Arrays.copyOf(scores[i], newCapacity);
                }
            }
        }
        keep = new int[newCapacity];
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

    @Nullable
    @Override
    public AttentionObserver attentionObserver() {
        return observer != null && policy.observes(pendingStep) ? observer : null;
    }

    private void observe(int layer, int queryHead, int token, int stepTokens, float[] weights, int slots) {
        if (!policy.counts(token, stepTokens)) {
            return;
        }
        int lh = layer * kvHeads + queryHead / groupSize;
        // Query heads of one group add into the same row, possibly from different threads.
        synchronized (locks[lh]) {
            float[] s = scores[lh];
            for (int j = 0; j < slots; j++) {
                s[j] += weights[j];
            }
        }
    }

    /**
     * Window caches commit every chunk: their point is that no step attends over more than the
     * window, and a prompt held whole until its last chunk would.
     */
    @Override
    public void append(int stepTokens) {
        if (rerotation != null) {
            commit(stepTokens);
            return;
        }
        add(stepTokens);
        uncommitted += stepTokens;
    }

    @Override
    public int maxStepTokens() {
        return maxStepTokens;
    }

    // ---------------------------------------------------------------- memory tier

    @Override
    public boolean retrieves() {
        return memory != null;
    }

    @Override
    public void retrieve(int layer, float[] queries, int offset, int stepTokens, int stride) {
        for (int h = 0; h < kvHeads; h++) {
            int lh = layer * kvHeads + h;
            firstRecent[lh] = lengths[lh] > sink ? slotTokens[lh][sink] : tokens;
        }
        if (layer == 0 && tokenIds != null && stepIdCount == stepTokens) {
            // The window keeps the same slots in every head, so head 0's serve all of them.
            boolean named = memory.matchTurn(
                    stepIds, stepTokens, tokenIds, slotTokens[0], lengths[0], firstRecent[0]);
            focused |= named && memory.spec().focuses();
        }
        memory.retrieve(layer, queries, offset, stepTokens, stride, firstRecent);
    }

    @Override
    public void releaseRetrieved() {
        memory.releaseRegion();
        focused = false;
    }

    @Override
    public void stepTokenIds(int[] ids, int count) {
        if (tokenIds == null) {
            return;
        }
        if (stepIds.length < count) {
            stepIds = new int[Math.max(count, stepIds.length * 2)];
        }
        System.arraycopy(ids, 0, stepIds, 0, count);
        stepIdCount = count;
    }

    @Override
    public void startTurn() {
        turnFirstToken = tokens;
        focused = false;
    }

    @Override
    public int maskedFrom(int layer, int kvHead) {
        return focused ? Math.min(sink, lengths[layer * kvHeads + kvHead]) : 0;
    }

    @Override
    public int maskedTo(int layer, int kvHead) {
        if (!focused) {
            return 0;
        }
        int lh = layer * kvHeads + kvHead;
        return Math.max(Math.min(sink, lengths[lh]), lowerBound(slotTokens[lh], lengths[lh], turnFirstToken));
    }

    @Override
    public int retrievedLength(int layer, int kvHead) {
        return memory == null ? 0 : memory.regionLength(layer * kvHeads + kvHead);
    }

    @Override
    public float[] retrievedKeys(int layer, int kvHead) {
        return memory.regionKeys(layer * kvHeads + kvHead);
    }

    @Override
    public float[] retrievedValues(int layer, int kvHead) {
        return memory.regionValues(layer * kvHeads + kvHead);
    }

    /** The session's memory tier, or null when the spec has none. */
    @Nullable
    public SessionMemory memory() {
        return memory;
    }

    /** The most slots one step attended over: retrieved region, held slots and its own tokens. */
    public int maxAttended() {
        return maxAttended;
    }

    /**
     * Keeps the sealed blocks that this commit's eviction is about to start on, as stored. The
     * step's blocks are encoded first, so that a block that fills and starts to go in the same
     * commit goes to memory whole; the window keeps the same tokens in every head, so head 0
     * says which blocks lose tokens.
     */
    private void remember(int fed) {
        encodeChanged();
        int kept = policy.select(lengths[0], fed, tokens, NO_SCORES, keep);
        int[] st = slotTokens[0];
        int k = 0;
        int last = -1;
        for (int s = 0; s < lengths[0]; s++) {
            if (k < kept && keep[k] == s) {
                k++;
                continue;
            }
            int b = st[s] / blockTokens;
            Block block = blocks.get(b);
            if (b != last && !block.remembered && block.appended == blockTokens) {
                block.remembered = true;
                memory.add(block(b));
            }
            last = b;
        }
        int newGap = memory.gap();
        if (newGap != gap) {
            gap = newGap;
            for (int lh = 0; lh < lengths.length; lh++) {
                rotateFrom[lh] = Math.min(rotateFrom[lh], Math.min(sink, lengths[lh]));
            }
        }
    }

    /** Slots of {@code (lh)} that hold tokens of block {@code b}. */
    private int heldOf(int lh, int b) {
        int[] st = slotTokens[lh];
        return lowerBound(st, lengths[lh], (b + 1) * blockTokens) - lowerBound(st, lengths[lh], b * blockTokens);
    }

    /** The position slot {@code s} takes: after the memory's gap, unless it is a sink. */
    private int slotPosition(int s) {
        return s < sink ? s : s + gap;
    }

    @Override
    public void commit(int stepTokens) {
        add(stepTokens);
        int fed = uncommitted + stepTokens;
        uncommitted = 0;
        if (fed == 0) {
            return;
        }
        int n = lengths.length;
        if (memory != null) {
            remember(fed);
        }
        if (policy != null) {
            for (int lh = 0; lh < n; lh++) {
                float[] s = scores != null ? scores[lh] : NO_SCORES;
                int kept = policy.select(lengths[lh], fed, tokens, s, keep);
                if (kept < lengths[lh]) {
                    int moved = compact(lh, kept);
                    rotateFrom[lh] = Math.min(rotateFrom[lh], moved);
                }
                if (scores != null && !policy.accumulates()) {
                    Arrays.fill(s, 0f);
                }
            }
        }
        encodeChanged();
        if (rerotation != null) {
            for (int lh = 0; lh < n; lh++) {
                rotateDense(lh, rotateFrom[lh]);
            }
        }
    }

    /** Makes the step's slots part of the cache, marking their blocks changed; compresses nothing. */
    private void add(int stepTokens) {
        if (stepTokens < 0 || maxLength() + stepTokens > capacity) {
            throw new IllegalStateException(String.format(
                    "commit of %s tokens past capacity %s (length %s)", stepTokens, capacity, maxLength()));
        }
        pendingStep = 0;
        if (stepTokens == 0) {
            if (uncommitted == 0) {
                System.arraycopy(lengths, 0, rotateFrom, 0, lengths.length);
            }
            return;
        }
        int first = tokens;
        int position = nextPosition();
        if (rerotation != null) {
            if (ropePositions.length < first + stepTokens) {
                ropePositions = Arrays.copyOf(ropePositions, Math.max(first + stepTokens, ropePositions.length * 2));
            }
            for (int i = 0; i < stepTokens; i++) {
                ropePositions[first + i] = position + i;
            }
        }
        if (tokenIds != null) {
            if (tokenIds.length < first + stepTokens) {
                tokenIds = Arrays.copyOf(tokenIds, Math.max(first + stepTokens, tokenIds.length * 2));
            }
            for (int i = 0; i < stepTokens; i++) {
                tokenIds[first + i] = stepIdCount == stepTokens ? stepIds[i] : -1;
            }
            stepIdCount = -1;
        }
        int n = lengths.length;
        for (int lh = 0; lh < n; lh++) {
            int len = lengths[lh];
            int attended = len + stepTokens + (memory != null ? memory.regionLength(lh) : 0);
            maxAttended = Math.max(maxAttended, attended);
            int[] st = slotTokens[lh];
            for (int i = 0; i < stepTokens; i++) {
                st[len + i] = first + i;
            }
            if (rawKeys != keys) {
                System.arraycopy(keys[lh], len * headDim, rawKeys[lh], len * headDim, stepTokens * headDim);
            }
            lengths[lh] = len + stepTokens;
            // Appended tokens are not rotated yet: the commit rotates from the first of them.
            rotateFrom[lh] = uncommitted > 0 ? Math.min(rotateFrom[lh], len) : len;
        }
        tokens += stepTokens;
        for (int b = first / blockTokens; b <= (tokens - 1) / blockTokens; b++) {
            while (blocks.size() <= b) {
                blocks.add(null);
            }
            Block block = blocks.get(b);
            if (block == null) {
                block = new Block(b, n, layout.bitmapBytes());
                blocks.set(b, block);
            }
            block.appended = Math.min(blockTokens, tokens - b * blockTokens);
            for (int lh = 0; lh < n; lh++) {
                markChanged(b, lh);
            }
        }
    }

    /**
     * The first slot the last commit re-encoded (quantization rewrites what the step wrote, and
     * the rest of its block), moved (eviction) or re-rotated; 0 after {@link #clear} or a restore.
     */
    @Override
    public int firstChangedSlot(int layer, int kvHead) {
        return rotateFrom[layer * kvHeads + kvHead];
    }

    @Override
    public void clear() {
        turnFirstToken = 0;
        focused = false;
        Arrays.fill(rotateFrom, 0);
        for (int b = 0; b < blocks.size(); b++) {
            if (blocks.get(b) != null) {
                dirty.set(b);
            }
        }
        blocks.clear();
        if (memory != null) {
            memory.clear();
        }
        gap = 0;
        Arrays.fill(lengths, 0);
        tokens = 0;
        pendingStep = 0;
        uncommitted = 0;
        changedCount = 0;
        if (scores != null) {
            for (float[] s : scores) {
                Arrays.fill(s, 0f);
            }
        }
    }

    @Override
    public long bytesInMemory() {
        long slots = 0;
        for (int len : lengths) {
            slots += len;
        }
        return slots * headDim * Float.BYTES * (rawKeys != keys ? 3L : 2L);
    }

    // ---------------------------------------------------------------- blocks and state

    public KvSpec spec() {
        return spec;
    }

    public KvCodec codec() {
        return codec;
    }

    public int blockTokens() {
        return blockTokens;
    }

    public BlockLayout blockLayout() {
        return layout;
    }

    /** Token index held by {@code slot} of a head, for tests and diagnostics. */
    public int tokenAt(int layer, int kvHead, int slot) {
        int lh = layer * kvHeads + kvHead;
        checkArgument(slot >= 0 && slot < lengths[lh], "slot %s outside [0, %s)", slot, lengths[lh]);
        return slotTokens[lh][slot];
    }

    /**
     * Indices of the blocks changed since {@link #markClean()}, ascending: rewrite each with
     * {@link #block}, or delete it where that returns null.
     */
    public int[] dirtyBlocks() {
        return dirty.stream().toArray();
    }

    /** Forgets which blocks (and memory blocks) changed, once they are stored. */
    public void markClean() {
        dirty.clear();
        if (memory != null) {
            memory.markClean();
        }
    }

    /** The block's stored form, or null when it holds no token any more (or never did). */
    @Nullable
    public EncodedBlock block(int index) {
        checkState(uncommitted == 0, "block %s asked for while %s appended tokens are not committed", index, uncommitted);
        Block block = index < blocks.size() ? blocks.get(index) : null;
        if (block == null) {
            return null;
        }
        if (block.encoded == null) {
            int[] positions = null;
            if (rerotation != null) {
                positions = Arrays.copyOfRange(
                        ropePositions, index * blockTokens, index * blockTokens + block.appended);
            }
            int[] ids = tokenIds == null
                    ? null : Arrays.copyOfRange(tokenIds, index * blockTokens, index * blockTokens + block.appended);
            block.encoded = new EncodedBlock(index, BlockFormat.write(
                    layout, index, block.appended, positions, ids, block.bitmaps, block.payloads,
                    block.payloadLengths));
        }
        return block.encoded;
    }

    /** Every block that holds tokens, in order. */
    public List<EncodedBlock> blocks() {
        List<EncodedBlock> out = new ArrayList<>();
        for (int b = 0; b < blocks.size(); b++) {
            EncodedBlock e = block(b);
            if (e != null) {
                out.add(e);
            }
        }
        return out;
    }

    /**
     * The session's metadata.
     *
     * @param model the fingerprint of the model that computed this cache
     * @param historyLength the ids in the token history the caller stores beside it
     */
    public SessionMeta sessionMeta(String model, int historyLength) {
        return SessionMeta.of(tokens, nextPosition(), specString, BlockFormat.VERSION, model, historyLength);
    }

    /**
     * Bytes the session takes in state: every live block as encoded (with its serializer's
     * 8-byte framing), the session metadata (with a model fingerprint of {@link
     * #FINGERPRINT_CHARS}) and a token history of {@link #tokens()} ids in {@link HistoryChunks},
     * as the serializers write them. Keys and RocksDB overhead are not counted.
     */
    @Override
    public long storedBytes() {
        long total = SessionMeta.serializedSize(specString, FINGERPRINT_PLACEHOLDER)
                + HistoryChunks.serializedSize(tokens);
        for (EncodedBlock block : blocks()) {
            total += EncodedBlockSerializer.serializedSize(block.bytes().length);
        }
        return total + memoryStoredBytes();
    }

    /** Bytes the memory tier writes to state, with the serializer's framing; 0 without one. */
    public long memoryStoredBytes() {
        if (memory == null) {
            return 0;
        }
        return memory.storedBytes() + (long) memory.blockCount() * EncodedBlockSerializer.serializedSize(0);
    }

    /**
     * Replaces the contents with a stored session. Blocks may come in any order. Heavy-hitter
     * scores are not stored and restart from zero.
     *
     * @throws CorruptBlockException when a block fails its checks or the blocks do not add up to
     *     the metadata; the cache is then empty and the caller should recompute from the history
     */
    public void restore(String session, SessionMeta meta, Iterable<EncodedBlock> stored)
            throws CorruptBlockException {
        restore(session, meta, stored, List.of());
    }

    /**
     * Like {@link #restore(String, SessionMeta, Iterable)}, with the memory tier's stored blocks
     * (ignored without one).
     */
    public void restore(String session, SessionMeta meta, Iterable<EncodedBlock> stored, Iterable<EncodedBlock> remembered)
            throws CorruptBlockException {
        clear();
        markClean();
        try {
            if (memory != null) {
                memory.restore(session, remembered);
                gap = memory.gap();
            }
            restoreUnchecked(session, meta, stored);
        } catch (CorruptBlockException e) {
            clear();
            markClean();
            throw e;
        }
        markClean();
    }

    private void restoreUnchecked(String session, SessionMeta meta, Iterable<EncodedBlock> stored)
            throws CorruptBlockException {
        int metaBlock = CorruptBlockException.SESSION_META;
        // Read with its writer's defaults: a bare "kivi2" from before they were spelled out is not today's kivi2.
        String storedSpec = KvSpec.canonicalStored(meta.spec());
        if (!storedSpec.equals(specString)) {
            throw new CorruptBlockException(
                    session, metaBlock, "stored with kv spec " + meta.spec()
                            + (storedSpec.equals(meta.spec()) ? "" : " (" + storedSpec + ")") + ", this cache is " + specString);
        }
        if (meta.formatVersion() != BlockFormat.VERSION) {
            throw new CorruptBlockException(session, metaBlock, "unknown block format version " + meta.formatVersion());
        }
        TreeMap<Integer, ParsedBlock> parsed = new TreeMap<>();
        int n = lengths.length;
        int[] totals = new int[n];
        for (EncodedBlock e : stored) {
            ParsedBlock p = BlockFormat.read(session, e.index(), e.bytes(), layout);
            int expected = Math.min(blockTokens, meta.tokens() - e.index() * blockTokens);
            if (p.appended() != expected) {
                throw new CorruptBlockException(
                        session, e.index(),
                        "holds " + p.appended() + " fed tokens, the session metadata says " + expected);
            }
            if (parsed.put(e.index(), p) != null) {
                throw new CorruptBlockException(session, e.index(), "given twice");
            }
            for (int lh = 0; lh < n; lh++) {
                totals[lh] += heldIn(p, lh);
            }
        }
        int most = 0;
        for (int t : totals) {
            most = Math.max(most, t);
        }
        if (rerotation == null && meta.tokens() > maxTokens) {
            throw new CorruptBlockException(session, metaBlock, meta.tokens() + " tokens exceed the limit " + maxTokens);
        }
        reserve(most);
        pendingStep = 0;
        if (rerotation != null && ropePositions.length < meta.tokens()) {
            ropePositions = Arrays.copyOf(ropePositions, meta.tokens());
        }
        if (tokenIds != null && tokenIds.length < meta.tokens()) {
            tokenIds = Arrays.copyOf(tokenIds, meta.tokens());
        }
        for (ParsedBlock p : parsed.values()) {
            int b = p.index();
            int base = b * blockTokens;
            boolean open = meta.tokens() < base + blockTokens;
            Block block = new Block(b, n, layout.bitmapBytes());
            block.appended = p.appended();
            for (int lh = 0; lh < n; lh++) {
                int held = 0;
                int start = lengths[lh];
                int[] st = slotTokens[lh];
                for (int j = 0; j < p.appended(); j++) {
                    if (p.holds(lh, j)) {
                        st[start + held++] = base + j;
                    }
                }
                KvCodec codec = codecs[lh / kvHeads];
                int residual = codec.residual(held, open);
                if (p.payloadLengths()[lh] != codec.encodedBytes(held, residual)) {
                    throw new CorruptBlockException(
                            session, b, "payload of head " + lh + " has " + p.payloadLengths()[lh]
                                    + " bytes, " + held + " tokens need " + codec.encodedBytes(held, residual));
                }
                codec.decode(p.bytes(), p.payloadOffsets()[lh], held, residual, rawKeys[lh], values[lh], start);
                block.payloads[lh] = Arrays.copyOfRange(
                        p.bytes(), p.payloadOffsets()[lh], p.payloadOffsets()[lh] + p.payloadLengths()[lh]);
                block.payloadLengths[lh] = p.payloadLengths()[lh];
                block.bitmaps[lh] = p.bitmaps()[lh];
                lengths[lh] = start + held;
            }
            if (rerotation != null) {
                if (p.ropePositions() == null) {
                    for (int j = 0; j < p.appended(); j++) {
                        ropePositions[base + j] = base + j;
                    }
                } else {
                    System.arraycopy(p.ropePositions(), 0, ropePositions, base, p.appended());
                }
            }
            if (tokenIds != null) {
                // Blocks written before ids were kept (or by a cache that kept none) match nothing.
                if (p.tokenIds() == null) {
                    Arrays.fill(tokenIds, base, base + p.appended(), -1);
                } else {
                    System.arraycopy(p.tokenIds(), 0, tokenIds, base, p.appended());
                }
            }
            while (blocks.size() <= b) {
                blocks.add(null);
            }
            block.encoded = new EncodedBlock(b, p.bytes());
            blocks.set(b, block);
        }
        tokens = meta.tokens();
        // Evicting caches may have deleted any block but the newest; the others delete none.
        int last = meta.tokens() == 0 ? -1 : (meta.tokens() - 1) / blockTokens;
        for (int b = policy == null ? 0 : Math.max(0, last); b <= last; b++) {
            if (!parsed.containsKey(b)) {
                throw new CorruptBlockException(session, b, "missing");
            }
        }
        if (rerotation != null) {
            for (int lh = 0; lh < n; lh++) {
                if (lengths[lh] + gap != meta.nextPosition()) {
                    throw new CorruptBlockException(
                            session, metaBlock, "head " + lh + " holds " + lengths[lh] + " slots after a memory gap of "
                                    + gap + ", the next position is " + meta.nextPosition());
                }
                rotateDense(lh, 0);
            }
            // A block the window has evicted from went to the memory then; it must not go again.
            for (Block block : blocks) {
                if (block != null) {
                    block.remembered = block.appended == blockTokens && heldOf(0, block.index) < block.appended;
                }
            }
        } else if (meta.nextPosition() != meta.tokens()) {
            throw new CorruptBlockException(
                    session, metaBlock, "next position " + meta.nextPosition() + " differs from tokens " + meta.tokens());
        }
    }

    private static int heldIn(ParsedBlock p, int lh) {
        int held = 0;
        for (byte b : p.bitmaps()[lh]) {
            held += Integer.bitCount(b & 0xff);
        }
        return held;
    }

    // ---------------------------------------------------------------- internals

    private int maxLength() {
        int max = 0;
        for (int len : lengths) {
            max = Math.max(max, len);
        }
        return max;
    }

    private void markChanged(int b, int lh) {
        Block block = blocks.get(b);
        if (!block.anyChanged) {
            block.anyChanged = true;
            if (changedCount == changedBlocks.length) {
                changedBlocks = Arrays.copyOf(changedBlocks, changedCount * 2);
            }
            changedBlocks[changedCount++] = b;
        }
        block.changed[lh] = true;
    }

    /** Keeps the slots listed in {@link #keep}; returns the first slot whose contents moved. */
    private int compact(int lh, int kept) {
        int len = lengths[lh];
        int[] st = slotTokens[lh];
        int k = 0;
        for (int s = 0; s < len; s++) {
            if (k < kept && keep[k] == s) {
                k++;
            } else {
                markChanged(st[s] / blockTokens, lh);
            }
        }
        float[] raw = rawKeys[lh];
        float[] val = values[lh];
        float[] sc = scores != null ? scores[lh] : null;
        int firstMoved = kept;
        for (int i = 0; i < kept; i++) {
            int src = keep[i];
            if (src == i) {
                continue;
            }
            firstMoved = Math.min(firstMoved, i);
            System.arraycopy(raw, src * headDim, raw, i * headDim, headDim);
            System.arraycopy(val, src * headDim, val, i * headDim, headDim);
            st[i] = st[src];
            if (sc != null) {
                sc[i] = sc[src];
            }
        }
        if (sc != null) {
            Arrays.fill(sc, kept, len, 0f);
        }
        lengths[lh] = kept;
        return firstMoved;
    }

    /** Re-encodes every changed (block, head) run and decodes it back into the dense arrays. */
    private void encodeChanged() {
        for (int i = 0; i < changedCount; i++) {
            int b = changedBlocks[i];
            Block block = blocks.get(b);
            int lo = b * blockTokens;
            int hi = lo + blockTokens;
            boolean open = tokens < hi;
            boolean empty = true;
            for (int lh = 0; lh < lengths.length; lh++) {
                if (block.changed[lh]) {
                    block.changed[lh] = false;
                    encodeRun(block, lh, lo, hi, open);
                }
                empty &= block.payloadLengths[lh] == 0;
            }
            block.anyChanged = false;
            block.encoded = null;
            dirty.set(b);
            if (empty && !open) {
                blocks.set(b, null);
            }
        }
        changedCount = 0;
    }

    private void encodeRun(Block block, int lh, int lo, int hi, boolean open) {
        int[] st = slotTokens[lh];
        int len = lengths[lh];
        int from = lowerBound(st, len, lo);
        int to = lowerBound(st, len, hi);
        int n = to - from;
        byte[] bitmap = block.bitmaps[lh];
        Arrays.fill(bitmap, (byte) 0);
        for (int s = from; s < to; s++) {
            int j = st[s] - lo;
            bitmap[j >>> 3] |= (byte) (1 << (j & 7));
        }
        KvCodec codec = codecs[lh / kvHeads];
        int residual = codec.residual(n, open);
        int size = codec.encodedBytes(n, residual);
        byte[] payload = block.payloads[lh];
        if (payload.length < size || (!open && payload.length != size)) {
            if (open) {
                // Open runs take the most they can need at once, from the run that sealed last.
                payload = spareOpenRuns[lh] != null ? spareOpenRuns[lh] : new byte[openRunBytes];
                spareOpenRuns[lh] = null;
            } else {
                // Sealed runs keep an exact buffer; the open one serves the next block.
                if (payload.length == openRunBytes) {
                    spareOpenRuns[lh] = payload;
                }
                payload = new byte[size];
            }
            block.payloads[lh] = payload;
        }
        int written = codec.encode(rawKeys[lh], values[lh], from, n, residual, payload, 0);
        codec.decode(payload, 0, n, residual, rawKeys[lh], values[lh], from);
        block.payloadLengths[lh] = written;
        rotateFrom[lh] = Math.min(rotateFrom[lh], from);
    }

    /** One codec per layer, as {@code spec} makes them (layers may differ in value bits). */
    private static KvCodec[] codecsPerLayer(KvSpec spec, int headDim, int layers) {
        KvCodec[] out = new KvCodec[layers];
        for (int l = 0; l < layers; l++) {
            out[l] = spec.newCodec(headDim, l);
        }
        return out;
    }

    /**
     * An open run's encoding can be larger than a full sealed block's (a KIVI residual is kept in
     * fp16 until its group fills), so sizing its buffer by the sealed size would regrow it at
     * every decode step.
     */
    private static int openRunBytes(KvCodec[] codecs, int blockTokens) {
        int most = 0;
        for (KvCodec codec : codecs) {
            for (int n = 1; n <= blockTokens; n++) {
                most = Math.max(most, codec.encodedBytes(n, codec.residual(n, true)));
            }
        }
        return most;
    }

    /** Dense keys from the stored ones, rotated from their written position to their slot. */
    private void rotateDense(int lh, int from) {
        float[] raw = rawKeys[lh];
        float[] dense = keys[lh];
        int[] st = slotTokens[lh];
        int len = lengths[lh];
        for (int s = from; s < len; s++) {
            int off = s * headDim;
            System.arraycopy(raw, off, dense, off, headDim);
            rerotation.rotate(dense, off, slotPosition(s) - ropePositions[st[s]]);
        }
    }

    private static int lowerBound(int[] a, int len, int key) {
        int lo = 0;
        int hi = len;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** A block as the cache keeps it: encoded runs per head, assembled into bytes on demand. */
    private static final class Block {
        final int index;
        final byte[][] payloads;
        final int[] payloadLengths;
        final byte[][] bitmaps;
        final boolean[] changed;
        boolean anyChanged;
        /** Whether the memory has the block already (or had, before its limit dropped it). */
        boolean remembered;
        int appended;
        @Nullable EncodedBlock encoded;

        Block(int index, int heads, int bitmapBytes) {
            this.index = index;
            this.payloads = new byte[heads][0];
            this.payloadLengths = new int[heads];
            this.bitmaps = new byte[heads][bitmapBytes];
            this.changed = new boolean[heads];
        }
    }
}
