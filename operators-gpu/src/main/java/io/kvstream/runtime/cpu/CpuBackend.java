package io.kvstream.runtime.cpu;

import io.kvstream.kv.KvCache;
import io.kvstream.model.LayerWeights;
import io.kvstream.model.Model;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.Weights;
import io.kvstream.runtime.ForwardBackend;
import io.kvstream.runtime.Parallel;
import io.kvstream.runtime.RopeTable;
import io.kvstream.runtime.SequenceStep;

import java.util.List;

/**
 * The forward pass on the CPU: every token of every sequence in the step goes through the
 * matrix multiplies together (weights read once per step), while RoPE and attention run per
 * sequence against that sequence's own cache.
 *
 * <p>Activations are fp32 throughout. Q8_0 and Q4_0 weights are multiplied in their blocks, from
 * a heap copy where there is room for one ({@link CpuWeights}); other formats are expanded to
 * fp32 row by row. Buffers are kept from step to step and only grow, so a steady decode loop
 * allocates nothing per token.
 */
public final class CpuBackend implements ForwardBackend {

    private final ModelConfig config;
    private final Weights weights;
    private final boolean weightsOnHeap;
    private final Parallel parallel;
    private final MatMul matMul;
    private final RopeTable rope;
    private final int dim;
    private final int qDim;
    private final int kvDim;
    private final int headDim;
    private final int groupSize;
    private final LaneAttention attention;
    /** Query heads of an attention block: a KV head's, or as many of them as there are lanes. */
    private final int blockHeads;
    /** Blocks of query heads per KV head, and tokens per block. */
    private final int headBlocks;
    private final int blockTokens;

    // Activations of the current step, token-major; sized for `capacity` tokens.
    private int capacity;
    private float[] x = new float[0];
    private float[] xb = new float[0];
    private float[] q = new float[0];
    private float[] k = new float[0];
    private float[] v = new float[0];
    private float[] att = new float[0];
    private float[] gate = new float[0];
    private float[] up = new float[0];
    private float[] logitsRows = new float[0];
    private float[] normed = new float[0];
    // Per token of the step: which sequence, which index inside it.
    private int[] seqOf = new int[0];
    private int[] indexOf = new int[0];
    // Per sequence: its first token in the step.
    private int[] seqStart = new int[0];
    // Per attention block of tokens: its first token in the step, and how many.
    private int[] blockStart = new int[0];
    private int[] blockSize = new int[0];
    private int blocks;
    // The step and layer in progress, read by the loop bodies below; steps run one at a time.
    private List<SequenceStep> batch;
    private LayerWeights layer;
    private int layerIndex;
    // Loop bodies made once, so that a step hands work to the threads without allocating.
    private final Parallel.RangeBody attnNormBody = this::attnNorm;
    private final Parallel.RangeBody positionBody = this::position;
    private final Parallel.RangeBody attentionBody = this::attention;
    private final Parallel.RangeBody ffnNormBody = this::ffnNorm;
    private final Parallel.RangeBody swiGluBody = this::swiGlu;
    private final Parallel.RangeBody residualBody = this::residual;

    public CpuBackend(Model model, int threads) {
        this.config = model.config();
        this.weights = CpuWeights.of(model);
        this.weightsOnHeap = weights != model.weights();
        this.parallel = new Parallel(threads);
        this.matMul = new MatMul(parallel);
        this.dim = config.dim();
        this.qDim = config.qDim();
        this.kvDim = config.kvDim();
        this.headDim = config.headDim();
        this.groupSize = config.heads() / config.kvHeads();
        this.attention = new LaneAttention(headDim, (float) (1.0 / Math.sqrt(headDim)), parallel.threads());
        this.blockHeads = Math.min(groupSize, LaneAttention.LANES);
        this.headBlocks = (groupSize + blockHeads - 1) / blockHeads;
        this.blockTokens = LaneAttention.LANES / blockHeads;
        this.rope = new RopeTable(headDim, config.ropeTheta(), config.ropeStyle());
    }

    /** Whether this backend multiplies a heap copy of the weights, not the mapped file. */
    public boolean weightsOnHeap() {
        return weightsOnHeap;
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public void forward(List<SequenceStep> batch) {
        int sequences = batch.size();
        int total = 0;
        int maxPosition = 0;
        int logitRows = 0;
        for (int s = 0; s < sequences; s++) {
            SequenceStep step = batch.get(s);
            KvCache cache = step.cache();
            if (cache.layers() != config.layers() || cache.kvHeads() != config.kvHeads()
                    || cache.headDim() != headDim) {
                throw new IllegalArgumentException(
                        String.format(
                                "cache of %d layers x %d kv heads x %d does not fit the model"
                                        + " (%d x %d x %d)",
                                cache.layers(), cache.kvHeads(), cache.headDim(),
                                config.layers(), config.kvHeads(), headDim));
            }
            cache.reserve(step.count());
            if (cache.retrieves() && step.count() > 0) {
                cache.stepTokenIds(step.cacheTokenIds(), step.count());
            }
            total += step.count();
            maxPosition = Math.max(maxPosition, cache.nextPosition() + step.count());
            logitRows += step.count() > 0 ? step.logitRows() : 0;
        }
        if (total == 0) {
            return;
        }
        ensureCapacity(total, sequences);
        rope.ensure(maxPosition);
        int t = 0;
        blocks = 0;
        for (int s = 0; s < sequences; s++) {
            SequenceStep step = batch.get(s);
            seqStart[s] = t;
            for (int i = 0; i < step.count(); i++, t++) {
                seqOf[t] = s;
                indexOf[t] = i;
                if (i % blockTokens == 0) {
                    blockStart[blocks] = t;
                    blockSize[blocks] = Math.min(blockTokens, step.count() - i);
                    blocks++;
                }
            }
        }
        embed(batch, total);
        for (int l = 0; l < config.layers(); l++) {
            layer(batch, l, total);
        }
        this.batch = null;
        this.layer = null;
        logits(batch, logitRows);
        // Indexed: this runs every step, and an iterator is not always scalar-replaced.
        for (int s = 0; s < sequences; s++) {
            batch.get(s).finishCache();
        }
    }

    private void embed(List<SequenceStep> batch, int total) {
        for (int t = 0; t < total; t++) {
            SequenceStep step = batch.get(seqOf[t]);
            int i = indexOf[t];
            if (step.isEmbedded(i)) {
                System.arraycopy(step.embeddings(), i * dim, x, t * dim, dim);
            } else {
                int token = step.token(i);
                if (token < 0 || token >= config.vocabSize()) {
                    throw new IllegalArgumentException(
                            String.format(
                                    "token id %d is outside the vocabulary of %d",
                                    token, config.vocabSize()));
                }
                weights.tokenEmbedding().dequantizeRow(token, x, t * dim);
            }
        }
    }

    private void layer(List<SequenceStep> batch, int l, int total) {
        LayerWeights w = weights.layers().get(l);
        this.batch = batch;
        this.layer = w;
        this.layerIndex = l;
        parallel.forRange(total, 8, attnNormBody);
        matMul.multiply(w.wq(), xb, dim, total, q, qDim);
        matMul.sameActivationsNext();
        matMul.multiply(w.wk(), xb, dim, total, k, kvDim);
        matMul.sameActivationsNext();
        matMul.multiply(w.wv(), xb, dim, total, v, kvDim);
        parallel.forRange(total, 16, positionBody);
        retrieve(batch, l);
        parallel.forRange(blocks * config.kvHeads() * headBlocks, 1, attentionBody);
        matMul.multiply(w.wo(), att, qDim, total, xb, dim);
        parallel.forRange(total, 16, ffnNormBody);
        int hidden = config.hiddenDim();
        matMul.multiply(w.wGate(), xb, dim, total, gate, hidden);
        matMul.sameActivationsNext();
        matMul.multiply(w.wUp(), xb, dim, total, up, hidden);
        parallel.forRange(total, 8, swiGluBody);
        matMul.multiply(w.wDown(), gate, hidden, total, xb, dim);
        parallel.forRange(total, 16, residualBody);
    }

    private void attnNorm(int worker, int from, int to) {
        for (int t = from; t < to; t++) {
            VectorMath.rmsNorm(x, t * dim, layer.attnNorm(), config.rmsEps(), xb, t * dim, dim);
        }
    }

    /** Biases, RoPE and the cache write are per token; positions come from each sequence. */
    private void position(int worker, int from, int to) {
        LayerWeights w = layer;
        int l = layerIndex;
        for (int t = from; t < to; t++) {
            if (w.bq() != null) {
                VectorMath.add(w.bq(), 0, q, t * qDim, qDim);
                VectorMath.add(w.bk(), 0, k, t * kvDim, kvDim);
                VectorMath.add(w.bv(), 0, v, t * kvDim, kvDim);
            }
            KvCache cache = batch.get(seqOf[t]).cache();
            int i = indexOf[t];
            int pos = cache.nextPosition() + i;
            rope.rotate(q, t * qDim, config.heads(), pos);
            rope.rotate(k, t * kvDim, config.kvHeads(), pos);
            for (int h = 0; h < config.kvHeads(); h++) {
                int slot = cache.length(l, h) + i;
                System.arraycopy(k, t * kvDim + h * headDim, cache.keys(l, h), slot * headDim, headDim);
                System.arraycopy(v, t * kvDim + h * headDim, cache.values(l, h), slot * headDim, headDim);
            }
        }
    }

    /**
     * Caches with a memory tier bring back the blocks this layer's queries match, for the prompt
     * of a turn that is answered; other prompt steps attend over the working set alone.
     */
    private void retrieve(List<SequenceStep> batch, int l) {
        for (int s = 0; s < batch.size(); s++) {
            SequenceStep step = batch.get(s);
            if (!step.isPrompt() || step.count() == 0 || !step.cache().retrieves()) {
                continue;
            }
            if (step.retrieves()) {
                step.cache().retrieve(l, q, seqStart[s] * qDim, step.count(), qDim);
            } else if (l == 0) {
                step.cache().releaseRetrieved();
            }
        }
    }

    /** Items are (block of tokens, KV head, block of its query heads). */
    private void attention(int worker, int from, int to) {
        int perBlock = config.kvHeads() * headBlocks;
        for (int item = from; item < to; item++) {
            int b = item / perBlock;
            int kvHead = item % perBlock / headBlocks;
            int firstHead = item % headBlocks * blockHeads;
            int t = blockStart[b];
            SequenceStep step = batch.get(seqOf[t]);
            attention.attend(worker, step.cache(), layerIndex, kvHead, q, qDim, att, t, blockSize[b], indexOf[t],
                    step.count(), kvHead * groupSize + firstHead, Math.min(blockHeads, groupSize - firstHead));
        }
    }

    private void ffnNorm(int worker, int from, int to) {
        for (int t = from; t < to; t++) {
            VectorMath.add(xb, t * dim, x, t * dim, dim);
            VectorMath.rmsNorm(x, t * dim, layer.ffnNorm(), config.rmsEps(), xb, t * dim, dim);
        }
    }

    private void swiGlu(int worker, int from, int to) {
        int hidden = config.hiddenDim();
        for (int t = from; t < to; t++) {
            VectorMath.swiGlu(gate, t * hidden, up, t * hidden, hidden);
        }
    }

    private void residual(int worker, int from, int to) {
        for (int t = from; t < to; t++) {
            VectorMath.add(xb, t * dim, x, t * dim, dim);
        }
    }

    private void logits(List<SequenceStep> batch, int rows) {
        if (rows == 0) {
            return;
        }
        int vocab = config.vocabSize();
        if (normed.length < rows * dim) {
            normed = new float[rows * dim];
        }
        if (logitsRows.length < rows * vocab) {
            logitsRows = new float[rows * vocab];
        }
        int r = 0;
        for (int s = 0; s < batch.size(); s++) {
            SequenceStep step = batch.get(s);
            if (step.count() == 0) {
                continue;
            }
            for (int i = step.firstLogit(); i < step.count(); i++, r++) {
                int t = seqStart[s] + i;
                VectorMath.rmsNorm(x, t * dim, weights.outputNorm(), config.rmsEps(), normed, r * dim, dim);
            }
        }
        matMul.multiply(weights.output(), normed, dim, rows, logitsRows, vocab);
        r = 0;
        for (int s = 0; s < batch.size(); s++) {
            SequenceStep step = batch.get(s);
            if (step.count() == 0) {
                continue;
            }
            int n = step.logitRows();
            float[] dst = step.logitsBuffer(n * vocab);
            System.arraycopy(logitsRows, r * vocab, dst, 0, n * vocab);
            r += n;
        }
    }

    private void ensureCapacity(int tokens, int sequences) {
        if (seqStart.length < sequences) {
            seqStart = new int[Math.max(sequences, seqStart.length * 2)];
        }
        if (tokens <= capacity) {
            return;
        }
        int cap = Math.max(tokens, capacity * 2);
        x = new float[cap * dim];
        xb = new float[cap * dim];
        q = new float[cap * qDim];
        k = new float[cap * kvDim];
        v = new float[cap * kvDim];
        att = new float[cap * qDim];
        gate = new float[cap * config.hiddenDim()];
        up = new float[cap * config.hiddenDim()];
        seqOf = new int[cap];
        indexOf = new int[cap];
        blockStart = new int[cap];
        blockSize = new int[cap];
        capacity = cap;
    }

    @Override
    public void close() {
        parallel.close();
    }
}
