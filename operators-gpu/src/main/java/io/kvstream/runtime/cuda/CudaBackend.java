package io.kvstream.runtime.cuda;

import io.kvstream.kv.KvCache;
import io.kvstream.model.Model;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.RopeStyle;
import io.kvstream.runtime.ForwardBackend;
import io.kvstream.runtime.RopeTable;
import io.kvstream.runtime.SequenceStep;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The forward pass on a CUDA device (JCuda driver API, kernels from the PTX resources).
 *
 * <p>Weights live on the device from construction on. Each cache has a copy in a paged KV pool
 * (see {@link KvResidency}): a step sends what the device lacks, runs every layer for all tokens
 * of all sequences together, brings back the requested logits and the step's new keys and values
 * into the host cache, commits it, and re-sends the slots the commit changed (a compressing
 * cache re-encodes its open block). Activations are fp32; matrices are multiplied by the
 * mat-vec kernels on the weights as stored (decode) or by the tensor-core GEMM, fp16 inputs and
 * fp32 accumulation, from {@value #GEMM_MIN_TOKENS_PROPERTY} tokens on (prefill).
 *
 * <p>Steps run on the default stream with synchronous copies, one at a time; caches whose
 * eviction needs attention weights (h2o, snapkv) are refused, as the kernels do not report them.
 */
public final class CudaBackend implements ForwardBackend {

    private static final Logger LOG = LoggerFactory.getLogger(CudaBackend.class);

    /** Device memory for the KV pool in MiB (default: 60% of what is free after the weights). */
    public static final String POOL_MB_PROPERTY = "kvstream.cuda.kvPoolMb";
    /** Steps with at least this many tokens multiply on tensor cores (default 32). */
    public static final String GEMM_MIN_TOKENS_PROPERTY = "kvstream.cuda.gemmMinTokens";

    /** Slots per page of the KV pool. */
    static final int PAGE_TOKENS = 16;
    /** Slots one block of decode attention covers before the reduce pass merges them. */
    static final int SPLIT_SLOTS = 256;
    /** Widest head the attention kernels take (MAX_HEAD_DIM in attention.cu). */
    static final int MAX_HEAD_DIM = 256;

    private static final int ROW_THREADS = 256;
    private static final int MATVEC_ROWS_PER_BLOCK = 8;
    private static final int GEMM_TILE = 64;
    private static final int GEMM_THREADS = 128;
    private static final int ATTENTION_THREADS = 128;
    private static final int ELEMENT_THREADS = 256;
    private static final double DEFAULT_POOL_SHARE = 0.6;

    private final ModelConfig config;
    private final int dim;
    private final int qDim;
    private final int kvDim;
    private final int headDim;
    private final int hidden;
    private final int vocab;
    private final int layersKv;
    private final float attentionScale;
    private final int gemmMinTokens;

    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CudaKernels kernels;
    private final DeviceWeights weights;
    private final DeviceBuffer kPool;
    private final DeviceBuffer vPool;
    private final KvResidency residency;
    private final StepPlan plan;
    private final RopeTable rope;

    // Step-sized device memory, grown on demand.
    private final GrowingBuffer x = new GrowingBuffer();
    private final GrowingBuffer xb = new GrowingBuffer();
    private final GrowingBuffer ob = new GrowingBuffer();
    private final GrowingBuffer q = new GrowingBuffer();
    private final GrowingBuffer k = new GrowingBuffer();
    private final GrowingBuffer v = new GrowingBuffer();
    private final GrowingBuffer att = new GrowingBuffer();
    private final GrowingBuffer gate = new GrowingBuffer();
    private final GrowingBuffer up = new GrowingBuffer();
    private final GrowingBuffer normed = new GrowingBuffer();
    private final GrowingBuffer logits = new GrowingBuffer();
    private final GrowingBuffer partAcc = new GrowingBuffer();
    private final GrowingBuffer partMax = new GrowingBuffer();
    private final GrowingBuffer partSum = new GrowingBuffer();
    private final GrowingBuffer embedded = new GrowingBuffer();
    private final GrowingBuffer ints = new GrowingBuffer();
    private final GrowingBuffer stageK = new GrowingBuffer();
    private final GrowingBuffer stageV = new GrowingBuffer();
    private final GrowingBuffer stageAddr = new GrowingBuffer();
    private final List<GrowingBuffer> growing = List.of(
            x, xb, ob, q, k, v, att, gate, up, normed, logits, partAcc, partMax, partSum, embedded, ints,
            stageK, stageV, stageAddr);
    private DeviceBuffer ropeCos;
    private DeviceBuffer ropeSin;
    private int ropePositions;

    // Host side of the step.
    private final List<SequenceStep> active = new ArrayList<>();
    private final List<KvCache> caches = new ArrayList<>();
    private int[] slots = new int[0];
    private BlockTable[] tables = new BlockTable[0];
    private int[] packed = new int[0];
    private float[] hostLogits = new float[0];
    private float[] hostK = new float[0];
    private float[] hostV = new float[0];
    private int[] hostAddr = new int[0];
    private int stagedRows;
    // Offsets (in ints) of the plan's arrays in the packed upload.
    private int offEmbed;
    private int offPosition;
    private int offTokSeq;
    private int offTokIndex;
    private int offLogitTokens;
    private int offSeqKvLen;
    private int offSeqTable;
    private int offSeqPages;
    private int offBlockTable;
    private int offAppend;
    private int offTileTok;
    private int offTileCount;

    public CudaBackend(Model model) {
        CudaDevice.Probe probe = CudaDevice.probe();
        if (!probe.available()) {
            throw new IllegalStateException("no CUDA device: " + probe.description());
        }
        this.config = model.config();
        this.dim = config.dim();
        this.qDim = config.qDim();
        this.kvDim = config.kvDim();
        this.headDim = config.headDim();
        this.hidden = config.hiddenDim();
        this.vocab = config.vocabSize();
        this.layersKv = config.layers() * config.kvHeads();
        this.attentionScale = (float) (1.0 / Math.sqrt(headDim));
        this.gemmMinTokens = Integer.getInteger(GEMM_MIN_TOKENS_PROPERTY, 32);
        if (headDim > MAX_HEAD_DIM) {
            throw new IllegalArgumentException(String.format(
                    "the CUDA kernels take heads of up to %d, the model has %d", MAX_HEAD_DIM, headDim));
        }
        this.rope = new RopeTable(headDim, config.ropeTheta(), config.ropeStyle());
        this.plan = new StepPlan(config);

        JCudaDriver.cuDeviceGet(device, 0);
        JCudaDriver.cuDevicePrimaryCtxRetain(context, device);
        JCudaDriver.cuCtxSetCurrent(context);
        CudaKernels loaded = null;
        DeviceWeights uploaded = null;
        DeviceBuffer keys = null;
        try {
            loaded = new CudaKernels();
            uploaded = new DeviceWeights(model.weights());
            long[] free = new long[1];
            long[] total = new long[1];
            JCudaDriver.cuMemGetInfo(free, total);
            long poolBytes = Long.getLong(POOL_MB_PROPERTY, -1L) > 0
                    ? Long.getLong(POOL_MB_PROPERTY) << 20
                    : (long) (free[0] * DEFAULT_POOL_SHARE);
            long pageBytes = (long) PAGE_TOKENS * headDim * Float.BYTES;
            int pages = (int) Math.min(poolBytes / (2 * pageBytes), Integer.MAX_VALUE / PAGE_TOKENS);
            if (pages < 1) {
                throw new IllegalStateException(String.format(
                        "no room for a KV pool: %d MiB free after %d MiB of weights",
                        free[0] >> 20, uploaded.bytes() >> 20));
            }
            keys = new DeviceBuffer(pages * pageBytes);
            this.vPool = new DeviceBuffer(pages * pageBytes);
            this.kPool = keys;
            this.kernels = loaded;
            this.weights = uploaded;
            this.residency = new KvResidency(new PagePool(pages, PAGE_TOKENS), layersKv);
            LOG.info("CUDA backend on {}: weights {} MiB, KV pool {} pages of {} slots ({} MiB)",
                    probe.description(), uploaded.bytes() >> 20, pages, PAGE_TOKENS, (2 * pages * pageBytes) >> 20);
        } catch (RuntimeException e) {
            if (keys != null) {
                keys.close();
            }
            if (uploaded != null) {
                uploaded.close();
            }
            if (loaded != null) {
                loaded.close();
            }
            JCudaDriver.cuDevicePrimaryCtxRelease(device);
            throw e;
        }
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public void forward(List<SequenceStep> batch) {
        JCudaDriver.cuCtxSetCurrent(context);
        active.clear();
        caches.clear();
        for (SequenceStep step : batch) {
            KvCache cache = step.cache();
            if (cache.layers() != config.layers() || cache.kvHeads() != config.kvHeads()
                    || cache.headDim() != headDim) {
                throw new IllegalArgumentException(String.format(
                        "cache of %d layers x %d kv heads x %d does not fit the model (%d x %d x %d)",
                        cache.layers(), cache.kvHeads(), cache.headDim(), config.layers(), config.kvHeads(), headDim));
            }
            cache.reserve(step.count());
            if (step.count() == 0) {
                continue;
            }
            if (cache.retrieves()) {
                throw new IllegalArgumentException(
                        "this KV cache has a memory tier, whose retrieval the CUDA backend does not run yet;"
                                + " run memory caches with --device cpu");
            }
            if (cache.attentionObserver() != null) {
                throw new IllegalArgumentException(
                        "this KV cache's eviction needs attention weights, which the CUDA backend does not"
                                + " report; run h2o and snapkv caches with --device cpu");
            }
            active.add(step);
            caches.add(cache);
        }
        if (active.isEmpty()) {
            return;
        }
        int n = active.size();
        if (slots.length < n) {
            slots = new int[Math.max(n, slots.length * 2)];
            tables = new BlockTable[slots.length];
        }
        for (int i = 0; i < n; i++) {
            slots[i] = maxLength(caches.get(i)) + active.get(i).count();
        }
        KvResidency.Resident[] residents = residency.prepare(caches, slots);
        for (int i = 0; i < n; i++) {
            tables[i] = residents[i].table();
        }
        plan.build(active, tables);
        sendMissingRows(residents);
        uploadPlan();
        ensureRope(plan.maxPosition());
        int tokens = plan.tokens();
        ensureActivations(tokens);
        embed(tokens);
        for (int l = 0; l < config.layers(); l++) {
            layer(l, tokens);
        }
        logits();
        fetchNewRows();
        for (SequenceStep step : batch) {
            step.finishCache();
        }
        resend(residents);
    }

    private int maxLength(KvCache cache) {
        int max = 0;
        for (int lh = 0; lh < layersKv; lh++) {
            max = Math.max(max, cache.length(lh / config.kvHeads(), lh % config.kvHeads()));
        }
        return max;
    }

    // ------------------------------------------------------------------ KV between host and device

    /** Sends every head's slots that the device does not hold as the host does. */
    private void sendMissingRows(KvResidency.Resident[] residents) {
        for (int i = 0; i < caches.size(); i++) {
            KvCache cache = caches.get(i);
            for (int lh = 0; lh < layersKv; lh++) {
                int layer = lh / config.kvHeads();
                int head = lh % config.kvHeads();
                stageRows(residents[i].table(), cache, lh, residents[i].validSlots(cache, lh), cache.length(layer, head));
            }
        }
        putStagedRows();
    }

    /** After the commit: re-sends from the first slot each head changed, and records the mirror. */
    private void resend(KvResidency.Resident[] residents) {
        for (int i = 0; i < caches.size(); i++) {
            KvCache cache = caches.get(i);
            for (int lh = 0; lh < layersKv; lh++) {
                int layer = lh / config.kvHeads();
                int head = lh % config.kvHeads();
                int length = cache.length(layer, head);
                int from = Math.max(0, Math.min(length, cache.firstChangedSlot(layer, head)));
                stageRows(residents[i].table(), cache, lh, from, length);
            }
        }
        putStagedRows();
        for (int i = 0; i < caches.size(); i++) {
            residents[i].markSynced(caches.get(i));
        }
    }

    private void stageRows(BlockTable table, KvCache cache, int lh, int from, int to) {
        if (from >= to) {
            return;
        }
        int layer = lh / config.kvHeads();
        int head = lh % config.kvHeads();
        growStaging(stagedRows + to - from);
        float[] keys = cache.keys(layer, head);
        float[] values = cache.values(layer, head);
        for (int slot = from; slot < to; slot++, stagedRows++) {
            System.arraycopy(keys, slot * headDim, hostK, stagedRows * headDim, headDim);
            System.arraycopy(values, slot * headDim, hostV, stagedRows * headDim, headDim);
            hostAddr[stagedRows] = table.address(lh, slot);
        }
    }

    private void putStagedRows() {
        int rows = stagedRows;
        stagedRows = 0;
        if (rows == 0) {
            return;
        }
        long rowBytes = (long) headDim * Float.BYTES;
        stageK.ensure(rows * rowBytes).upload(hostK, rows * headDim);
        stageV.ensure(rows * rowBytes).upload(hostV, rows * headDim);
        stageAddr.ensure((long) rows * Integer.BYTES).upload(hostAddr, rows);
        kernels.launch(Kernel.KV_ROWS_PUT, rows, 1, 1, Math.min(headDim, ROW_THREADS), 0, args(
                ptr(kPool.ptr()), ptr(vPool.ptr()), ptr(stageAddr.ptr()), ptr(stageK.ptr()), ptr(stageV.ptr()),
                i(headDim)));
    }

    /** Brings the step's new keys and values into the host caches, before they commit. */
    private void fetchNewRows() {
        int rows = plan.tokens() * layersKv;
        growStaging(rows);
        int r = 0;
        for (int s = 0; s < active.size(); s++) {
            KvCache cache = caches.get(s);
            int count = active.get(s).count();
            for (int lh = 0; lh < layersKv; lh++) {
                int len = cache.length(lh / config.kvHeads(), lh % config.kvHeads());
                for (int j = 0; j < count; j++) {
                    hostAddr[r++] = tables[s].address(lh, len + j);
                }
            }
        }
        long rowBytes = (long) headDim * Float.BYTES;
        stageK.ensure(rows * rowBytes);
        stageV.ensure(rows * rowBytes);
        stageAddr.ensure((long) rows * Integer.BYTES).upload(hostAddr, rows);
        kernels.launch(Kernel.KV_ROWS_GET, rows, 1, 1, Math.min(headDim, ROW_THREADS), 0, args(
                ptr(kPool.ptr()), ptr(vPool.ptr()), ptr(stageAddr.ptr()), ptr(stageK.ptr()), ptr(stageV.ptr()),
                i(headDim)));
        stageK.ensure(rows * rowBytes).download(hostK, rows * headDim);
        stageV.ensure(rows * rowBytes).download(hostV, rows * headDim);
        r = 0;
        for (int s = 0; s < active.size(); s++) {
            KvCache cache = caches.get(s);
            int count = active.get(s).count();
            for (int lh = 0; lh < layersKv; lh++) {
                int layer = lh / config.kvHeads();
                int head = lh % config.kvHeads();
                int len = cache.length(layer, head);
                System.arraycopy(hostK, r * headDim, cache.keys(layer, head), len * headDim, count * headDim);
                System.arraycopy(hostV, r * headDim, cache.values(layer, head), len * headDim, count * headDim);
                r += count;
            }
        }
    }

    private void growStaging(int rows) {
        if (hostAddr.length < rows) {
            int cap = Math.max(rows, hostAddr.length * 2);
            hostAddr = Arrays.copyOf(hostAddr, cap);
            hostK = Arrays.copyOf(hostK, cap * headDim);
            hostV = Arrays.copyOf(hostV, cap * headDim);
        }
    }

    // ------------------------------------------------------------------ the step

    /** Sends the plan's arrays in one copy. */
    private void uploadPlan() {
        int t = plan.tokens();
        int s = plan.sequences();
        int at = 0;
        offEmbed = at;
        at += t;
        offPosition = at;
        at += t;
        offTokSeq = at;
        at += t;
        offTokIndex = at;
        at += t;
        offLogitTokens = at;
        at += plan.logitRows();
        offSeqKvLen = at;
        at += s * layersKv;
        offSeqTable = at;
        at += s;
        offSeqPages = at;
        at += s;
        offBlockTable = at;
        at += plan.blockTableSize();
        offAppend = at;
        at += config.layers() * t * config.kvHeads();
        offTileTok = at;
        at += plan.tiles();
        offTileCount = at;
        at += plan.tiles();
        if (packed.length < at) {
            packed = new int[Math.max(at, packed.length * 2)];
        }
        System.arraycopy(plan.embedSource(), 0, packed, offEmbed, t);
        System.arraycopy(plan.position(), 0, packed, offPosition, t);
        System.arraycopy(plan.tokSeq(), 0, packed, offTokSeq, t);
        System.arraycopy(plan.tokIndex(), 0, packed, offTokIndex, t);
        System.arraycopy(plan.logitTokens(), 0, packed, offLogitTokens, plan.logitRows());
        System.arraycopy(plan.seqKvLen(), 0, packed, offSeqKvLen, s * layersKv);
        System.arraycopy(plan.seqTable(), 0, packed, offSeqTable, s);
        System.arraycopy(plan.seqPages(), 0, packed, offSeqPages, s);
        System.arraycopy(plan.blockTable(), 0, packed, offBlockTable, plan.blockTableSize());
        System.arraycopy(plan.appendAddr(), 0, packed, offAppend, config.layers() * t * config.kvHeads());
        System.arraycopy(plan.tileTok(), 0, packed, offTileTok, plan.tiles());
        System.arraycopy(plan.tileCount(), 0, packed, offTileCount, plan.tiles());
        ints.ensure((long) at * Integer.BYTES).upload(packed, at);
        if (plan.embeddedRows() > 0) {
            embedded.ensure((long) plan.embeddedRows() * dim * Float.BYTES)
                    .upload(plan.embedded(), plan.embeddedRows() * dim);
        } else {
            embedded.ensure(Float.BYTES);
        }
    }

    private CUdeviceptr intArray(int offset) {
        return ints.ptr().withByteOffset((long) offset * Integer.BYTES);
    }

    private void ensureRope(int positions) {
        if (positions <= ropePositions) {
            return;
        }
        int cap = Math.max(positions, Math.max(1024, ropePositions * 2));
        float[] cos = rope.cosTable(cap);
        float[] sin = rope.sinTable(cap);
        if (ropeCos != null) {
            ropeCos.close();
            ropeSin.close();
        }
        ropeCos = new DeviceBuffer((long) cos.length * Float.BYTES);
        ropeSin = new DeviceBuffer((long) sin.length * Float.BYTES);
        ropeCos.upload(cos, cos.length);
        ropeSin.upload(sin, sin.length);
        ropePositions = cap;
    }

    private void ensureActivations(int tokens) {
        long f = Float.BYTES;
        x.ensure(tokens * dim * f);
        xb.ensure(tokens * dim * f);
        ob.ensure(tokens * dim * f);
        q.ensure(tokens * qDim * f);
        k.ensure(tokens * kvDim * f);
        v.ensure(tokens * kvDim * f);
        att.ensure(tokens * qDim * f);
        gate.ensure(tokens * hidden * f);
        up.ensure(tokens * hidden * f);
    }

    private void embed(int tokens) {
        DeviceMatrix table = weights.embedding();
        if (table.format() == DeviceMatrix.Format.Q8_0) {
            kernels.launch(Kernel.EMBED_Q8_0, tokens, 1, 1, ROW_THREADS, 0, args(
                    ptr(table.data().ptr()), ptr(table.scales().ptr()), ptr(intArray(offEmbed)),
                    ptr(embedded.ptr()), ptr(x.ptr()), i(dim)));
        } else {
            kernels.launch(Kernel.EMBED_F16, tokens, 1, 1, ROW_THREADS, 0, args(
                    ptr(table.data().ptr()), ptr(intArray(offEmbed)), ptr(embedded.ptr()), ptr(x.ptr()), i(dim)));
        }
    }

    private void layer(int l, int tokens) {
        DeviceWeights.Layer w = weights.layer(l);
        kernels.launch(Kernel.RMS_NORM, tokens, 1, 1, ROW_THREADS, 0, args(
                ptr(x.ptr()), ptr(new CUdeviceptr()), ptr(w.attnNorm().ptr()), ptr(xb.ptr()), i(dim),
                f(config.rmsEps())));
        multiply(w.wq(), xb.ptr(), tokens, q.ptr());
        multiply(w.wk(), xb.ptr(), tokens, k.ptr());
        multiply(w.wv(), xb.ptr(), tokens, v.ptr());
        if (w.bq() != null) {
            addBias(q.ptr(), w.bq(), qDim, tokens);
            addBias(k.ptr(), w.bk(), kvDim, tokens);
            addBias(v.ptr(), w.bv(), kvDim, tokens);
        }
        rotate(q.ptr(), config.heads(), qDim, tokens);
        rotate(k.ptr(), config.kvHeads(), kvDim, tokens);
        kernels.launch(Kernel.KV_APPEND, tokens, 1, 1, ROW_THREADS, 0, args(
                ptr(k.ptr()), ptr(v.ptr()), ptr(kPool.ptr()), ptr(vPool.ptr()),
                ptr(intArray(offAppend + l * tokens * config.kvHeads())), i(config.kvHeads()), i(headDim)));
        attention(l, tokens);
        multiply(w.wo(), att.ptr(), tokens, ob.ptr());
        kernels.launch(Kernel.ADD_RMS_NORM, tokens, 1, 1, ROW_THREADS, 0, args(
                ptr(x.ptr()), ptr(ob.ptr()), ptr(w.ffnNorm().ptr()), ptr(xb.ptr()), i(dim), f(config.rmsEps())));
        multiply(w.wGate(), xb.ptr(), tokens, gate.ptr());
        multiply(w.wUp(), xb.ptr(), tokens, up.ptr());
        elementwise(Kernel.SWIGLU, gate.ptr(), up.ptr(), tokens * hidden);
        multiply(w.wDown(), gate.ptr(), tokens, ob.ptr());
        elementwise(Kernel.ADD_INPLACE, x.ptr(), ob.ptr(), tokens * dim);
    }

    private void attention(int l, int tokens) {
        int heads = config.heads();
        if (plan.decodeOnly()) {
            int splits = (plan.maxSlots() + SPLIT_SLOTS - 1) / SPLIT_SLOTS;
            long parts = (long) tokens * heads * splits;
            partAcc.ensure(parts * headDim * Float.BYTES);
            partMax.ensure(parts * Float.BYTES);
            partSum.ensure(parts * Float.BYTES);
            kernels.launch(Kernel.ATTENTION_DECODE, tokens, heads, splits, ATTENTION_THREADS, 0, args(
                    ptr(q.ptr()), ptr(kPool.ptr()), ptr(vPool.ptr()), ptr(intArray(offBlockTable)),
                    ptr(intArray(offTokSeq)), ptr(intArray(offTokIndex)), ptr(intArray(offSeqKvLen)),
                    ptr(intArray(offSeqTable)), ptr(intArray(offSeqPages)),
                    ptr(partAcc.ptr()), ptr(partMax.ptr()), ptr(partSum.ptr()),
                    i(l), i(layersKv), i(heads), i(config.kvHeads()), i(headDim), i(PAGE_TOKENS), i(SPLIT_SLOTS),
                    f(attentionScale)));
            kernels.launch(Kernel.ATTENTION_REDUCE, tokens, heads, 1, Math.min(headDim, ROW_THREADS), 0, args(
                    ptr(partAcc.ptr()), ptr(partMax.ptr()), ptr(partSum.ptr()), ptr(att.ptr()),
                    i(heads), i(headDim), i(splits)));
        } else {
            int shared = 2 * PAGE_TOKENS * headDim * Float.BYTES;
            kernels.launch(Kernel.ATTENTION_PREFILL, plan.tiles(), heads, 1, ATTENTION_THREADS, shared, args(
                    ptr(q.ptr()), ptr(kPool.ptr()), ptr(vPool.ptr()), ptr(intArray(offBlockTable)),
                    ptr(intArray(offTokSeq)), ptr(intArray(offTokIndex)), ptr(intArray(offSeqKvLen)),
                    ptr(intArray(offSeqTable)), ptr(intArray(offSeqPages)),
                    ptr(intArray(offTileTok)), ptr(intArray(offTileCount)), ptr(att.ptr()),
                    i(l), i(layersKv), i(heads), i(config.kvHeads()), i(headDim), i(PAGE_TOKENS),
                    f(attentionScale)));
        }
    }

    private void logits() {
        int rows = plan.logitRows();
        if (rows == 0) {
            return;
        }
        normed.ensure((long) rows * dim * Float.BYTES);
        logits.ensure((long) rows * vocab * Float.BYTES);
        kernels.launch(Kernel.RMS_NORM, rows, 1, 1, ROW_THREADS, 0, args(
                ptr(x.ptr()), ptr(intArray(offLogitTokens)), ptr(weights.outputNorm().ptr()), ptr(normed.ptr()),
                i(dim), f(config.rmsEps())));
        multiply(weights.output(), normed.ptr(), rows, logits.ptr());
        if (hostLogits.length < rows * vocab) {
            hostLogits = new float[rows * vocab];
        }
        logits.ensure((long) rows * vocab * Float.BYTES).download(hostLogits, rows * vocab);
        int r = 0;
        for (SequenceStep step : active) {
            int n = step.logitRows();
            System.arraycopy(hostLogits, r * vocab, step.logitsBuffer(n * vocab), 0, n * vocab);
            r += n;
        }
    }

    /** {@code out[t][r] = W[r] . in[t]}: mat-vec on the stored weights for few tokens, GEMM for many. */
    private void multiply(DeviceMatrix w, CUdeviceptr in, int tokens, CUdeviceptr out) {
        int rows = w.rows();
        int cols = w.cols();
        boolean q8 = w.format() == DeviceMatrix.Format.Q8_0;
        // The F16 mat-vec reads 8 halves at a time.
        boolean gemm = tokens >= gemmMinTokens || (!q8 && cols % 8 != 0);
        if (gemm) {
            int gx = (rows + GEMM_TILE - 1) / GEMM_TILE;
            int gy = (tokens + GEMM_TILE - 1) / GEMM_TILE;
            if (q8) {
                kernels.launch(Kernel.GEMM_Q8_0, gx, gy, 1, GEMM_THREADS, 0, args(
                        ptr(in), ptr(w.data().ptr()), ptr(w.scales().ptr()), ptr(out), i(tokens), i(rows), i(cols)));
            } else {
                kernels.launch(Kernel.GEMM_F16, gx, gy, 1, GEMM_THREADS, 0, args(
                        ptr(in), ptr(w.data().ptr()), ptr(out), i(tokens), i(rows), i(cols)));
            }
        } else {
            int blocks = (rows + MATVEC_ROWS_PER_BLOCK - 1) / MATVEC_ROWS_PER_BLOCK;
            int threads = MATVEC_ROWS_PER_BLOCK * 32;
            if (q8) {
                kernels.launch(Kernel.MATVEC_Q8_0, blocks, 1, 1, threads, 0, args(
                        ptr(w.data().ptr()), ptr(w.scales().ptr()), ptr(in), ptr(out), i(rows), i(cols), i(tokens)));
            } else {
                kernels.launch(Kernel.MATVEC_F16, blocks, 1, 1, threads, 0, args(
                        ptr(w.data().ptr()), ptr(in), ptr(out), i(rows), i(cols), i(tokens)));
            }
        }
    }

    private void addBias(CUdeviceptr y, DeviceBuffer bias, int width, int tokens) {
        int total = width * tokens;
        kernels.launch(Kernel.ADD_BIAS, (total + ELEMENT_THREADS - 1) / ELEMENT_THREADS, 1, 1, ELEMENT_THREADS, 0,
                args(ptr(y), ptr(bias.ptr()), i(width), i(total)));
    }

    private void rotate(CUdeviceptr y, int heads, int stride, int tokens) {
        int style = config.ropeStyle() == RopeStyle.INTERLEAVED ? 0 : 1;
        kernels.launch(Kernel.ROPE, tokens, 1, 1, ATTENTION_THREADS, 0, args(
                ptr(y), ptr(intArray(offPosition)), ptr(ropeCos.ptr()), ptr(ropeSin.ptr()),
                i(heads), i(headDim), i(stride), i(style)));
    }

    private void elementwise(Kernel kernel, CUdeviceptr a, CUdeviceptr b, int total) {
        kernels.launch(kernel, (total + ELEMENT_THREADS - 1) / ELEMENT_THREADS, 1, 1, ELEMENT_THREADS, 0,
                args(ptr(a), ptr(b), i(total)));
    }

    private static Pointer args(NativePointerObject... params) {
        return Pointer.to(params);
    }

    private static Pointer ptr(CUdeviceptr p) {
        return Pointer.to(p);
    }

    private static Pointer i(int value) {
        return Pointer.to(new int[] {value});
    }

    private static Pointer f(float value) {
        return Pointer.to(new float[] {value});
    }

    @Override
    public void close() {
        JCudaDriver.cuCtxSetCurrent(context);
        residency.clear();
        growing.forEach(GrowingBuffer::close);
        if (ropeCos != null) {
            ropeCos.close();
            ropeSin.close();
        }
        kPool.close();
        vPool.close();
        weights.close();
        kernels.close();
        JCudaDriver.cuDevicePrimaryCtxRelease(device);
    }
}
