// Picking the next token on the device, one block per row of logits, so that only the chosen ids
// travel back to the host.
//
// Top-k and top-p need the largest values in order; instead of sorting the vocabulary, each cut
// is a bisection over the values themselves (as ordered 32-bit keys: exact in 32 rounds), each
// round one pass over the row. The kept set, the softmax over it and the draw then match
// io.kvstream.sampling.Sampler's, which walks the candidates most likely first, up to ties and
// the rounding of the sums.
#include "common.cuh"

#define SAMPLE_THREADS 1024

// Index of the largest logit of each row; the first one on ties, as torch.argmax.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) argmax_rows(
        const float* __restrict__ logits, int vocab, int* __restrict__ out) {
    __shared__ float sVal[32];
    __shared__ int sIdx[32];
    const float* row = logits + (size_t) blockIdx.x * vocab;
    float best = -INFINITY;
    int bestIdx = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float v = row[i];
        if (v > best) {
            best = v;
            bestIdx = i;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(FULL_MASK, best, o);
        int oi = __shfl_xor_sync(FULL_MASK, bestIdx, o);
        if (ov > best || (ov == best && oi < bestIdx)) {
            best = ov;
            bestIdx = oi;
        }
    }
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    if (lane == 0) {
        sVal[warp] = best;
        sIdx[warp] = bestIdx;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int warps = (blockDim.x + 31) >> 5;
        for (int w = 1; w < warps; w++) {
            if (sVal[w] > sVal[0] || (sVal[w] == sVal[0] && sIdx[w] < sIdx[0])) {
                sVal[0] = sVal[w];
                sIdx[0] = sIdx[w];
            }
        }
        // A row of NaN or -inf only: the CPU's argmax answers 0 then.
        out[blockIdx.x] = sIdx[0] == 0x7fffffff ? 0 : sIdx[0];
    }
}

__device__ __forceinline__ double block_sum_double(double v, double* scratch) {
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int warps = (blockDim.x + 31) >> 5;
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(FULL_MASK, v, o);
    }
    __syncthreads();
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(FULL_MASK, v, o);
    }
    return v;
}

// Elements of the row whose key is at least `key`, and their softmax mass exp(w - max).
__device__ __forceinline__ void count_and_mass(
        const float* row, int vocab, float invT, float max, long long key, double* scratch,
        double* count, double* mass) {
    double c = 0.0;
    double sum = 0.0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float w = row[i] * invT;
        if ((long long) ordered_key(w) >= key) {
            c += 1.0;
            sum += exp((double) (w - max));
        }
    }
    *count = block_sum_double(c, scratch);
    *mass = block_sum_double(sum, scratch);
}

// The highest key >= lo at which the elements with at least that key still number (by_mass:
// weigh) at least `need`, by bisection over the ordered keys; the predicate holds at lo.
__device__ long long highest_key(
        long long lo, const float* row, int vocab, float invT, float max, double* scratch,
        double need, bool by_mass) {
    long long hi = 2147483648LL;
    while (hi - lo > 1) {
        long long mid = lo + (hi - lo) / 2;
        double count;
        double mass;
        count_and_mass(row, vocab, invT, max, mid, scratch, &count, &mass);
        if ((by_mass ? mass : count) >= need) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

// For each row: temperature (invTemperature[r] = 1 / T), top-k (topK[r] <= 0: off), top-p
// (topP[r] >= 1: off), then a draw with the uniform number u[r] in [0, 1) that the host made
// from the request's seed. Greedy rows go through argmax_rows instead.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_rows(
        const float* __restrict__ logits, int vocab, const float* __restrict__ invTemperature,
        const int* __restrict__ topK, const float* __restrict__ topP, const float* __restrict__ u,
        int* __restrict__ out) {
    __shared__ double scratch[32];
    __shared__ int sMin;
    int r = blockIdx.x;
    const float* row = logits + (size_t) r * vocab;
    float invT = invTemperature[r];

    float max = -INFINITY;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        max = fmaxf(max, row[i] * invT);
    }
    max = warp_max(max);
    __shared__ float sMax[32];
    if ((threadIdx.x & 31) == 0) {
        sMax[threadIdx.x >> 5] = max;
    }
    __syncthreads();
    max = -INFINITY;
    for (int w = 0; w < ((blockDim.x + 31) >> 5); w++) {
        max = fmaxf(max, sMax[w]);
    }

    double count;
    double mass;
    // Invariant of every bisection below: the predicate holds at lo and fails at hi.
    long long floorKey = -2147483648LL;
    int k = topK[r];
    if (k > 0 && k < vocab) {
        floorKey = highest_key(floorKey, row, vocab, invT, max, scratch, (double) k, false);
    }
    count_and_mass(row, vocab, invT, max, floorKey, scratch, &count, &mass);
    float p = topP[r];
    if (p < 1.0f) {
        // The fewest most-likely candidates whose share of the top-k mass reaches p.
        floorKey = highest_key(floorKey, row, vocab, invT, max, scratch, (double) p * mass, true);
        count_and_mass(row, vocab, invT, max, floorKey, scratch, &count, &mass);
    }
    // The draw: walking candidates most likely first, the chosen one is where the running mass
    // first exceeds u * mass, i.e. the largest key whose mass-at-or-above still exceeds it.
    // "Exceeds" is ">=" the next double up.
    double target = nextafter((double) u[r] * mass, (double) INFINITY);
    long long lo = highest_key(floorKey, row, vocab, invT, max, scratch, target, true);
    if (threadIdx.x == 0) {
        sMin = 0x7fffffff;
    }
    __syncthreads();
    int mine = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        if ((long long) ordered_key(row[i] * invT) == lo) {
            mine = min(mine, i);
        }
    }
    atomicMin(&sMin, mine);
    __syncthreads();
    if (threadIdx.x == 0) {
        out[r] = sMin == 0x7fffffff ? 0 : sMin;
    }
}
