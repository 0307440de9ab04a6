// Shared helpers of the kvstream kernels. Every kernel is extern "C" so that the Java side finds
// it by its plain name in the PTX (see io.kvstream.runtime.cuda.Kernels).
#pragma once

#include <cuda_fp16.h>
#include <stdint.h>

#define FULL_MASK 0xffffffffu

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(FULL_MASK, v, o);
    }
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    }
    return v;
}

// Sum over the whole block; every thread gets the result. scratch holds 32 floats and is free
// again when this returns.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int warps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    v = warp_sum(v);
    return v;
}

// A float as an int that orders the same way (NaN aside): bisection over values is then an exact
// bisection over 2^32 integers.
__device__ __forceinline__ int ordered_key(float f) {
    int bits = __float_as_int(f);
    return bits >= 0 ? bits : bits ^ 0x7fffffff;
}
