// Attention over a paged KV pool.
//
// The pool holds fixed pages of pageTokens slots; a page belongs to one (sequence, layer, kv head)
// and holds keys and values as [slot][headDim] fp32, in two arrays kPool and vPool indexed by the
// pool slot (page * pageTokens + slot in page). Sequence s finds the pages of (layer, kv head)
// lh = layer * kvHeads + kvh at blockTable[seqTable[s] + lh * seqPages[s] + j], j = slot / pageTokens.
// seqKvLen[s * layersKv + lh] is how many slots the head held before this step; the step's own
// tokens follow them, so token t (index tokIndex[t] within its sequence) attends to the first
// seqKvLen + tokIndex[t] + 1 slots: causal within the step.
#include "common.cuh"

// Largest head width: each lane keeps headDim / 32 elements of a query and its accumulator.
#define MAX_HEAD_DIM 256
#define DPL (MAX_HEAD_DIM / 32)
#define ATT_WARPS 4

// Writes the keys and values of the step's tokens for one layer into their slots: slotAddr holds,
// for each token and kv head, the pool slot the host assigned. Grid: one block per token.
extern "C" __global__ void kv_append(
        const float* __restrict__ k, const float* __restrict__ v, float* __restrict__ kPool,
        float* __restrict__ vPool, const int* __restrict__ slotAddr, int kvHeads, int headDim) {
    int t = blockIdx.x;
    int kvDim = kvHeads * headDim;
    for (int e = threadIdx.x; e < kvDim; e += blockDim.x) {
        int h = e / headDim;
        size_t dst = (size_t) slotAddr[t * kvHeads + h] * headDim + (e - h * headDim);
        kPool[dst] = k[(size_t) t * kvDim + e];
        vPool[dst] = v[(size_t) t * kvDim + e];
    }
}

// Copies pool slots addr[r] out to rows r of k and v (device to host staging). Grid: one block per row.
extern "C" __global__ void kv_rows_get(
        const float* __restrict__ kPool, const float* __restrict__ vPool, const int* __restrict__ addr,
        float* __restrict__ k, float* __restrict__ v, int headDim) {
    int r = blockIdx.x;
    size_t src = (size_t) addr[r] * headDim;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        k[(size_t) r * headDim + d] = kPool[src + d];
        v[(size_t) r * headDim + d] = vPool[src + d];
    }
}

// The reverse of kv_rows_get: rows r of k and v into pool slots addr[r] (host to device).
extern "C" __global__ void kv_rows_put(
        float* __restrict__ kPool, float* __restrict__ vPool, const int* __restrict__ addr,
        const float* __restrict__ k, const float* __restrict__ v, int headDim) {
    int r = blockIdx.x;
    size_t dst = (size_t) addr[r] * headDim;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        kPool[dst + d] = k[(size_t) r * headDim + d];
        vPool[dst + d] = v[(size_t) r * headDim + d];
    }
}

__device__ __forceinline__ size_t pool_offset(const int* table, int slot, int pageTokens, int headDim) {
    int page = table[slot / pageTokens];
    return ((size_t) page * pageTokens + slot % pageTokens) * headDim;
}

// Decode: the slots of one (token, head) are split into gridDim.z ranges of splitSlots, each block
// keeping an online softmax (running max m, sum l, unnormalized accumulator) that
// attention_reduce merges. Grid: (tokens, heads, splits), ATT_WARPS warps.
extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32) attention_decode(
        const float* __restrict__ q, const float* __restrict__ kPool, const float* __restrict__ vPool,
        const int* __restrict__ blockTable, const int* __restrict__ tokSeq, const int* __restrict__ tokIndex,
        const int* __restrict__ seqKvLen, const int* __restrict__ seqTable, const int* __restrict__ seqPages,
        float* __restrict__ partAcc, float* __restrict__ partMax, float* __restrict__ partSum,
        int layer, int layersKv, int heads, int kvHeads, int headDim, int pageTokens, int splitSlots,
        float scale) {
    __shared__ float sAcc[ATT_WARPS][MAX_HEAD_DIM];
    __shared__ float sM[ATT_WARPS];
    __shared__ float sL[ATT_WARPS];

    int t = blockIdx.x;
    int h = blockIdx.y;
    int split = blockIdx.z;
    int splits = gridDim.z;
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int s = tokSeq[t];
    int lh = layer * kvHeads + h / (heads / kvHeads);
    int n = seqKvLen[s * layersKv + lh] + tokIndex[t] + 1;
    int from = split * splitSlots;
    int to = min(n, from + splitSlots);
    const int* table = blockTable + seqTable[s] + lh * seqPages[s];
    const float* qh = q + ((size_t) t * heads + h) * headDim;

    float qv[DPL];
    float acc[DPL];
#pragma unroll
    for (int i = 0; i < DPL; i++) {
        int d = lane + 32 * i;
        qv[i] = d < headDim ? qh[d] : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INFINITY;
    float l = 0.0f;
    for (int j = from + warp; j < to; j += ATT_WARPS) {
        size_t off = pool_offset(table, j, pageTokens, headDim);
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            int d = lane + 32 * i;
            if (d < headDim) {
                dot += qv[i] * kPool[off + d];
            }
        }
        float score = warp_sum(dot) * scale;
        float mNew = fmaxf(m, score);
        float corr = expf(m - mNew);
        float p = expf(score - mNew);
        l = l * corr + p;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            int d = lane + 32 * i;
            if (d < headDim) {
                acc[i] = acc[i] * corr + p * vPool[off + d];
            }
        }
        m = mNew;
    }
#pragma unroll
    for (int i = 0; i < DPL; i++) {
        int d = lane + 32 * i;
        if (d < headDim) {
            sAcc[warp][d] = acc[i];
        }
    }
    if (lane == 0) {
        sM[warp] = m;
        sL[warp] = l;
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++) {
        M = fmaxf(M, sM[w]);
    }
    size_t part = ((size_t) t * heads + h) * splits + split;
    // A split past the end of a short sequence saw nothing: it reports an empty softmax.
    bool empty = M == -INFINITY;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float sum = 0.0f;
        if (!empty) {
            for (int w = 0; w < ATT_WARPS; w++) {
                if (sM[w] != -INFINITY) {
                    sum += sAcc[w][d] * expf(sM[w] - M);
                }
            }
        }
        partAcc[part * headDim + d] = sum;
    }
    if (threadIdx.x == 0) {
        float L = 0.0f;
        if (!empty) {
            for (int w = 0; w < ATT_WARPS; w++) {
                if (sM[w] != -INFINITY) {
                    L += sL[w] * expf(sM[w] - M);
                }
            }
        }
        partMax[part] = M;
        partSum[part] = L;
    }
}

// Merges the splits of attention_decode into out[t][h * headDim + d]. Grid: (tokens, heads).
extern "C" __global__ void attention_reduce(
        const float* __restrict__ partAcc, const float* __restrict__ partMax,
        const float* __restrict__ partSum, float* __restrict__ out, int heads, int headDim, int splits) {
    int t = blockIdx.x;
    int h = blockIdx.y;
    size_t base = ((size_t) t * heads + h) * splits;
    float M = -INFINITY;
    for (int sp = 0; sp < splits; sp++) {
        M = fmaxf(M, partMax[base + sp]);
    }
    float L = 0.0f;
    for (int sp = 0; sp < splits; sp++) {
        if (partSum[base + sp] > 0.0f) {
            L += partSum[base + sp] * expf(partMax[base + sp] - M);
        }
    }
    float inv = 1.0f / L;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float sum = 0.0f;
        for (int sp = 0; sp < splits; sp++) {
            if (partSum[base + sp] > 0.0f) {
                sum += partAcc[(base + sp) * headDim + d] * expf(partMax[base + sp] - M);
            }
        }
        out[((size_t) t * heads + h) * headDim + d] = sum * inv;
    }
}

// Queries one warp of attention_prefill carries; a tile is ATT_WARPS * PF_QUERIES tokens.
#define PF_QUERIES 4

// Prefill: a tile of up to 16 consecutive tokens of one sequence (tileTok[i] is its first token,
// tileCount[i] how many) attends page by page: each page of keys and values is read once into
// shared memory (dynamic: 2 * pageTokens * headDim floats) for the whole tile. Grid: (tiles, heads).
extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32) attention_prefill(
        const float* __restrict__ q, const float* __restrict__ kPool, const float* __restrict__ vPool,
        const int* __restrict__ blockTable, const int* __restrict__ tokSeq, const int* __restrict__ tokIndex,
        const int* __restrict__ seqKvLen, const int* __restrict__ seqTable, const int* __restrict__ seqPages,
        const int* __restrict__ tileTok, const int* __restrict__ tileCount, float* __restrict__ out,
        int layer, int layersKv, int heads, int kvHeads, int headDim, int pageTokens, float scale) {
    extern __shared__ float smem[];
    float* sK = smem;
    float* sV = smem + pageTokens * headDim;

    int h = blockIdx.y;
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int first = tileTok[blockIdx.x];
    int count = tileCount[blockIdx.x];
    int s = tokSeq[first];
    int lh = layer * kvHeads + h / (heads / kvHeads);
    int held = seqKvLen[s * layersKv + lh];
    const int* table = blockTable + seqTable[s] + lh * seqPages[s];
    // The tile's last token sees the most slots.
    int tileSlots = held + tokIndex[first + count - 1] + 1;

    float qv[PF_QUERIES][DPL];
    float acc[PF_QUERIES][DPL];
    float m[PF_QUERIES];
    float l[PF_QUERIES];
    int limit[PF_QUERIES];
#pragma unroll
    for (int qi = 0; qi < PF_QUERIES; qi++) {
        int local = warp * PF_QUERIES + qi;
        int t = first + local;
        bool live = local < count;
        limit[qi] = live ? held + tokIndex[t] + 1 : 0;
        m[qi] = -INFINITY;
        l[qi] = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            int d = lane + 32 * i;
            qv[qi][i] = live && d < headDim ? q[((size_t) t * heads + h) * headDim + d] : 0.0f;
            acc[qi][i] = 0.0f;
        }
    }

    for (int p0 = 0; p0 < tileSlots; p0 += pageTokens) {
        int inPage = min(pageTokens, tileSlots - p0);
        int page = table[p0 / pageTokens];
        const float* kSrc = kPool + (size_t) page * pageTokens * headDim;
        const float* vSrc = vPool + (size_t) page * pageTokens * headDim;
        __syncthreads();
        for (int e = threadIdx.x; e < inPage * headDim; e += blockDim.x) {
            sK[e] = kSrc[e];
            sV[e] = vSrc[e];
        }
        __syncthreads();
        for (int j = 0; j < inPage; j++) {
            int slot = p0 + j;
#pragma unroll
            for (int qi = 0; qi < PF_QUERIES; qi++) {
                // Warp-uniform: every lane of the warp has the same query.
                if (slot >= limit[qi]) {
                    continue;
                }
                float dot = 0.0f;
#pragma unroll
                for (int i = 0; i < DPL; i++) {
                    int d = lane + 32 * i;
                    if (d < headDim) {
                        dot += qv[qi][i] * sK[j * headDim + d];
                    }
                }
                float score = warp_sum(dot) * scale;
                float mNew = fmaxf(m[qi], score);
                float corr = expf(m[qi] - mNew);
                float p = expf(score - mNew);
                l[qi] = l[qi] * corr + p;
#pragma unroll
                for (int i = 0; i < DPL; i++) {
                    int d = lane + 32 * i;
                    if (d < headDim) {
                        acc[qi][i] = acc[qi][i] * corr + p * sV[j * headDim + d];
                    }
                }
                m[qi] = mNew;
            }
        }
    }
#pragma unroll
    for (int qi = 0; qi < PF_QUERIES; qi++) {
        int local = warp * PF_QUERIES + qi;
        if (local >= count) {
            continue;
        }
        float inv = 1.0f / l[qi];
        int t = first + local;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            int d = lane + 32 * i;
            if (d < headDim) {
                out[((size_t) t * heads + h) * headDim + d] = acc[qi][i] * inv;
            }
        }
    }
}
