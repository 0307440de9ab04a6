// out[t][r] = W[r] . x[t] for every token t of a step and every row r of a weight matrix
// ([rows][cols], one row per output, as the model stores them).
//
// Decode (few tokens): batched matrix-vector products, one warp per weight row, the row read once
// for up to MV_TOKENS tokens and accumulated in fp32 from exactly the weights the CPU expands.
// Prefill (many tokens): a tensor-core GEMM, fp16 inputs and fp32 accumulation.
#include <mma.h>

#include "common.cuh"

using namespace nvcuda;

// Tokens that share one pass over a weight row; their accumulators live in registers.
#define MV_TOKENS 4

// One warp per weight row, 8 weights per lane per pass, the row read once for up to MV_TOKENS
// tokens. `load(row, c, wf)` expands weights [c, c + 8) of the row to fp32 as the CPU does.
template <typename Load>
__device__ __forceinline__ void matvec_rows(
        Load load, const float* __restrict__ x, float* __restrict__ y, int rows, int cols, int tokens) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows) {
        return;
    }
    for (int t0 = 0; t0 < tokens; t0 += MV_TOKENS) {
        float acc[MV_TOKENS];
#pragma unroll
        for (int j = 0; j < MV_TOKENS; j++) {
            acc[j] = 0.0f;
        }
        for (int c = lane * 8; c < cols; c += 32 * 8) {
            float wf[8];
            load(row, c, wf);
#pragma unroll
            for (int j = 0; j < MV_TOKENS; j++) {
                if (t0 + j < tokens) {
                    const float4* xp = reinterpret_cast<const float4*>(x + (size_t) (t0 + j) * cols + c);
                    float4 a = xp[0];
                    float4 b = xp[1];
                    acc[j] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w
                            + wf[4] * b.x + wf[5] * b.y + wf[6] * b.z + wf[7] * b.w;
                }
            }
        }
#pragma unroll
        for (int j = 0; j < MV_TOKENS; j++) {
            float s = warp_sum(acc[j]);
            if (lane == 0 && t0 + j < tokens) {
                y[(size_t) (t0 + j) * rows + row] = s;
            }
        }
    }
}

// F16 weights: 16-byte loads, so cols is a multiple of 8.
struct F16Rows {
    const __half* __restrict__ W;
    int cols;
    __device__ __forceinline__ void operator()(int row, int c, float* wf) const {
        uint4 raw = *reinterpret_cast<const uint4*>(W + (size_t) row * cols + c);
        const __half2* h2 = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 f = __half22float2(h2[i]);
            wf[2 * i] = f.x;
            wf[2 * i + 1] = f.y;
        }
    }
};

// Q8_0 weights kept split: qs [rows][cols] int8 and d [rows][cols/32] fp16 scales (the GGUF block
// of 34 bytes is not 4-byte aligned, so the upload separates scales from quants).
struct Q8_0Rows {
    const int8_t* __restrict__ qs;
    const __half* __restrict__ d;
    int cols;
    __device__ __forceinline__ void operator()(int row, int c, float* wf) const {
        int2 raw = *reinterpret_cast<const int2*>(qs + (size_t) row * cols + c);
        const int8_t* b = reinterpret_cast<const int8_t*>(&raw);
        float s = __half2float(d[(size_t) row * (cols >> 5) + (c >> 5)]);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            wf[i] = (float) b[i] * s;
        }
    }
};

// Block: warps of 32 threads, a weight row each.
extern "C" __global__ void matvec_f16(
        const __half* __restrict__ W, const float* __restrict__ x, float* __restrict__ y,
        int rows, int cols, int tokens) {
    matvec_rows(F16Rows{W, cols}, x, y, rows, cols, tokens);
}

extern "C" __global__ void matvec_q8_0(
        const int8_t* __restrict__ qs, const __half* __restrict__ d, const float* __restrict__ x,
        float* __restrict__ y, int rows, int cols, int tokens) {
    matvec_rows(Q8_0Rows{qs, d, cols}, x, y, rows, cols, tokens);
}

// GEMM tiles: BM tokens x BN weight rows per block of 4 warps, each warp 32 x 32 (2 x 2 WMMA
// fragments of 16 x 16 x 16), K in steps of BK. Rows are padded by 8 halves against bank conflicts
// while keeping the 32-byte alignment WMMA loads need.
#define BM 64
#define BN 64
#define BK 32
#define APAD 8
#define CPAD 4
#define GEMM_THREADS 128

template <bool Q8>
__device__ __forceinline__ void gemm_body(
        const float* __restrict__ A, const __half* __restrict__ W, const int8_t* __restrict__ qs,
        const __half* __restrict__ d, float* __restrict__ C, int T, int N, int K) {
    __shared__ __align__(32) __half As[BM][BK + APAD];
    __shared__ __align__(32) __half Bs[BN][BK + APAD];
    __shared__ __align__(32) float Cs[BM][BN + CPAD];

    int m0 = blockIdx.y * BM;
    int n0 = blockIdx.x * BN;
    int warp = threadIdx.x >> 5;
    int wm = warp >> 1;
    int wn = warp & 1;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            wmma::fill_fragment(acc[i][j], 0.0f);
        }
    }

    for (int k0 = 0; k0 < K; k0 += BK) {
        // Activations arrive in fp32 and are rounded to fp16 here, on their way to shared memory.
        for (int i = threadIdx.x; i < BM * BK; i += GEMM_THREADS) {
            int r = i / BK;
            int c = i - r * BK;
            int gm = m0 + r;
            int gk = k0 + c;
            As[r][c] = gm < T && gk < K ? __float2half_rn(A[(size_t) gm * K + gk]) : __float2half_rn(0.0f);
        }
        for (int i = threadIdx.x; i < BN * BK; i += GEMM_THREADS) {
            int r = i / BK;
            int c = i - r * BK;
            int gn = n0 + r;
            int gk = k0 + c;
            __half v = __float2half_rn(0.0f);
            if (gn < N && gk < K) {
                if (Q8) {
                    // K is a whole number of Q8_0 blocks, so one tile column range shares a scale.
                    v = __float2half_rn((float) qs[(size_t) gn * K + gk] * __half2float(d[(size_t) gn * (K >> 5) + (gk >> 5)]));
                } else {
                    v = W[(size_t) gn * K + gk];
                }
            }
            Bs[r][c] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[2];
            // B = W^T: element (k, n) sits at Bs[n][k], i.e. column-major with ld BK + APAD.
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b[2];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                wmma::load_matrix_sync(a[i], &As[wm * 32 + i * 16][kk], BK + APAD);
                wmma::load_matrix_sync(b[i], &Bs[wn * 32 + i * 16][kk], BK + APAD);
            }
#pragma unroll
            for (int i = 0; i < 2; i++) {
#pragma unroll
                for (int j = 0; j < 2; j++) {
                    wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
                }
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            wmma::store_matrix_sync(&Cs[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], BN + CPAD, wmma::mem_row_major);
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < BM * BN; i += GEMM_THREADS) {
        int r = i / BN;
        int c = i - r * BN;
        if (m0 + r < T && n0 + c < N) {
            C[(size_t) (m0 + r) * N + n0 + c] = Cs[r][c];
        }
    }
}

// C[T][N] = A[T][K] . W[N][K]^T with F16 weights. Grid: (ceil(N / 64), ceil(T / 64)), 128 threads.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS) gemm_f16(
        const float* __restrict__ A, const __half* __restrict__ W, float* __restrict__ C, int T, int N, int K) {
    gemm_body<false>(A, W, nullptr, nullptr, C, T, N, K);
}

// Same with Q8_0 weights (split layout as matvec_q8_0), dequantized to fp16 tile by tile.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS) gemm_q8_0(
        const float* __restrict__ A, const int8_t* __restrict__ qs, const __half* __restrict__ d,
        float* __restrict__ C, int T, int N, int K) {
    gemm_body<true>(A, nullptr, qs, d, C, T, N, K);
}
