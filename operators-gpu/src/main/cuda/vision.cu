// Video frames to patch embeddings on the device: the projector is one linear layer over each
// patch's pixels (see io.kvstream.model.vision.PatchProjector, whose arithmetic this repeats).
#include "common.cuh"

// out[p][o] = bias[o] + sum_k W[o][k] * x_p[k], where x_p is patch p's pixels in (y, x, channel)
// order divided by 255. rgb is frameSize x frameSize x channels bytes. Grid: one block per patch;
// dynamic shared memory: patchSize * patchSize * channels floats.
extern "C" __global__ void patch_project(
        const unsigned char* __restrict__ rgb, const float* __restrict__ W, const float* __restrict__ bias,
        float* __restrict__ out, int frameSize, int patchSize, int channels, int embed) {
    extern __shared__ float xs[];
    int p = blockIdx.x;
    int side = frameSize / patchSize;
    int y0 = patchSize * (p / side);
    int x0 = patchSize * (p % side);
    int rowLen = patchSize * channels;
    int patchDim = patchSize * rowLen;
    for (int i = threadIdx.x; i < patchDim; i += blockDim.x) {
        int dy = i / rowLen;
        int k = i - dy * rowLen;
        xs[i] = (float) rgb[((y0 + dy) * frameSize + x0) * channels + k] / 255.0f;
    }
    __syncthreads();
    for (int o = threadIdx.x; o < embed; o += blockDim.x) {
        const float* w = W + (size_t) o * patchDim;
        float acc = 0.0f;
        // In order and unfused, as the CPU sums it.
        for (int k = 0; k < patchDim; k++) {
            acc = __fadd_rn(acc, __fmul_rn(w[k], xs[k]));
        }
        out[(size_t) p * embed + o] = acc + bias[o];
    }
}
