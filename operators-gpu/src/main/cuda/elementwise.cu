// Per-token kernels of the forward pass: embedding gather, norms, RoPE, SwiGLU, residuals.
// Activations are fp32, token-major: token t of a [T][n] array starts at t * n.
#include "common.cuh"

// Row t of x from the embedding table (src[t] >= 0 is a token id) or from a carried embedding
// (src[t] = -1 - r takes row r of extra: video patches). One block per token. `table(s, i)` is
// element i of table row s in fp32.
template <typename Table>
__device__ __forceinline__ void embed_rows(
        Table table, const int* __restrict__ src, const float* __restrict__ extra, float* __restrict__ x,
        int dim) {
    int t = blockIdx.x;
    int s = src[t];
    float* out = x + (size_t) t * dim;
    if (s >= 0) {
        for (int i = threadIdx.x; i < dim; i += blockDim.x) {
            out[i] = table(s, i);
        }
    } else {
        const float* row = extra + (size_t) (-1 - s) * dim;
        for (int i = threadIdx.x; i < dim; i += blockDim.x) {
            out[i] = row[i];
        }
    }
}

struct F16Table {
    const __half* __restrict__ table;
    int dim;
    __device__ __forceinline__ float operator()(int s, int i) const {
        return __half2float(table[(size_t) s * dim + i]);
    }
};

// A Q8_0 table kept split: qs [rows][dim] int8, d [rows][dim/32] fp16.
struct Q8_0Table {
    const int8_t* __restrict__ qs;
    const __half* __restrict__ d;
    int dim;
    __device__ __forceinline__ float operator()(int s, int i) const {
        // (float) q * d, the order ggml's dequantize_row_q8_0 and the CPU use.
        return (float) qs[(size_t) s * dim + i] * __half2float(d[(size_t) s * (dim / 32) + (i >> 5)]);
    }
};

extern "C" __global__ void embed_f16(
        const __half* __restrict__ table, const int* __restrict__ src,
        const float* __restrict__ extra, float* __restrict__ x, int dim) {
    embed_rows(F16Table{table, dim}, src, extra, x, dim);
}

extern "C" __global__ void embed_q8_0(
        const int8_t* __restrict__ qs, const __half* __restrict__ d, const int* __restrict__ src,
        const float* __restrict__ extra, float* __restrict__ x, int dim) {
    embed_rows(Q8_0Table{qs, d, dim}, src, extra, x, dim);
}

__device__ __forceinline__ void rms_norm_row(
        const float* __restrict__ in, const float* __restrict__ w, float* __restrict__ out,
        int dim, float eps, float* scratch) {
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        ss += in[i] * in[i];
    }
    ss = block_sum(ss, scratch);
    // The CPU takes the root in double: x / sqrt(mean + eps) rounds the same way here.
    float scale = (float) (1.0 / sqrt((double) (ss / dim + eps)));
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        out[i] = in[i] * scale * w[i];
    }
}

// out[r] = rmsnorm(x[rows ? rows[r] : r]) * w. The gather serves the final norm, which only the
// rows that need logits go through. One block per output row.
extern "C" __global__ void rms_norm(
        const float* __restrict__ x, const int* __restrict__ rows, const float* __restrict__ w,
        float* __restrict__ out, int dim, float eps) {
    __shared__ float scratch[32];
    int r = blockIdx.x;
    int src = rows != nullptr ? rows[r] : r;
    rms_norm_row(x + (size_t) src * dim, w, out + (size_t) r * dim, dim, eps, scratch);
}

// x += delta, then out = rmsnorm(x) * w: the residual of attention and the FFN norm in one pass.
extern "C" __global__ void add_rms_norm(
        float* __restrict__ x, const float* __restrict__ delta, const float* __restrict__ w,
        float* __restrict__ out, int dim, float eps) {
    __shared__ float scratch[32];
    size_t base = (size_t) blockIdx.x * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        x[base + i] += delta[base + i];
    }
    // Each thread reads back only what it wrote itself, so no barrier is needed before the norm.
    rms_norm_row(x + base, w, out + base, dim, eps, scratch);
}

// y[t][i] += b[i] over total = T * n elements (Qwen2's Q/K/V biases).
extern "C" __global__ void add_bias(float* __restrict__ y, const float* __restrict__ b, int n, int total) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) {
        y[i] += b[i % n];
    }
}

// x[i] += y[i]: the residual after the FFN.
extern "C" __global__ void add_inplace(float* __restrict__ x, const float* __restrict__ y, int total) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) {
        x[i] += y[i];
    }
}

// Rotates every head of token t (row stride `stride`) to position pos[t], with the cos/sin
// tables the host computed exactly as the CPU's RopeTable ([position][headDim/2]).
// style 0: pairs (2i, 2i+1) (GGUF llama, interleaved); style 1: pairs (i, i + half) (NEOX).
// Grid: one block per token; threads cover heads * half pairs.
extern "C" __global__ void rope(
        float* __restrict__ x, const int* __restrict__ pos, const float* __restrict__ cosTable,
        const float* __restrict__ sinTable, int heads, int headDim, int stride, int style) {
    int t = blockIdx.x;
    int half = headDim / 2;
    size_t base = (size_t) pos[t] * half;
    float* row = x + (size_t) t * stride;
    for (int p = threadIdx.x; p < heads * half; p += blockDim.x) {
        int h = p / half;
        int i = p - h * half;
        float c = cosTable[base + i];
        float s = sinTable[base + i];
        float* head = row + h * headDim;
        int ia = style == 0 ? 2 * i : i;
        int ib = style == 0 ? 2 * i + 1 : i + half;
        float a = head[ia];
        float b = head[ib];
        // Separate multiplies, as the CPU does them (no fused multiply-add).
        head[ia] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
        head[ib] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
    }
}

// gate[i] = silu(gate[i]) * up[i] over total elements.
extern "C" __global__ void swiglu(float* __restrict__ gate, const float* __restrict__ up, int total) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}
