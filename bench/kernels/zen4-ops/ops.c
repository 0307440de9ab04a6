/*
 * Throughput of the 512-bit operations Q4_0's integer kernels use, alone and in pairs, on this
 * machine (docs/benchmarks.md, twentieth stop). Eight independent chains per operation.
 *
 *   gcc -O2 -mavx512f -mavx512bw -mavx512vnni -o /tmp/ops ops.c && /tmp/ops [GHz]
 *
 * Cycles assume the clock given (default 3.65, what FmaPeak's 117 GFLOP/s a thread implies).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 20000000L
#define CLOBBER "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
    "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23"

/* accumulating ops: "op %%zmm9, %%zmmK, %%zmmK" */
#define ACC8(op, base) \
    op " %%zmm9, %%zmm" base "0, %%zmm" base "0\n" op " %%zmm9, %%zmm" base "1, %%zmm" base "1\n" \
    op " %%zmm9, %%zmm" base "2, %%zmm" base "2\n" op " %%zmm9, %%zmm" base "3, %%zmm" base "3\n" \
    op " %%zmm9, %%zmm" base "4, %%zmm" base "4\n" op " %%zmm9, %%zmm" base "5, %%zmm" base "5\n" \
    op " %%zmm9, %%zmm" base "6, %%zmm" base "6\n" op " %%zmm9, %%zmm" base "7, %%zmm" base "7\n"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define TIME(name, body) { \
    double best = 1e9; \
    for (int r = 0; r < 5; r++) { \
        double t = now(); \
        for (long i = 0; i < N; i++) { __asm__ volatile(body ::: CLOBBER); } \
        double m = now() - t; \
        if (m < best) best = m; \
    } \
    printf("%-34s %6.2f cycles per iteration\n", name, best / N * 1e9 * ghz); }

int main(int argc, char **argv) {
    double ghz = argc > 1 ? atof(argv[1]) : 3.65;
    /* zmm16-23 are the chains of the first operation, zmm0-7 of the second */
    TIME("8 vpmullw", ACC8("vpmullw", "1") )
    TIME("8 vfmadd231ps", ACC8("vfmadd231ps", "1"))
    TIME("8 vpmaddwd", ACC8("vpmaddwd", "1"))
    TIME("8 vpdpbusd (VNNI, not in the Vector API)", ACC8("vpdpbusd", "1"))
    TIME("16 vpaddw", ACC8("vpaddw", "") ACC8("vpaddw", ""))
    TIME("8 vpmullw + 8 vpaddw", ACC8("vpmullw", "1") ACC8("vpaddw", ""))
    TIME("8 vfmadd231ps + 8 vpaddw", ACC8("vfmadd231ps", "1") ACC8("vpaddw", ""))
    TIME("8 vpmullw + 8 vfmadd231ps", ACC8("vpmullw", "1") ACC8("vfmadd231ps", ""))
    return 0;
}
