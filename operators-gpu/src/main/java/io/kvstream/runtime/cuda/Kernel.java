package io.kvstream.runtime.cuda;

/**
 * Every kernel the Java side launches, with the PTX module (source file under {@code
 * src/main/cuda}) that defines it. PtxResourcesTest checks each name is an {@code .entry} of its
 * module.
 */
public enum Kernel {
    EMBED_F16("elementwise", "embed_f16"),
    EMBED_Q8_0("elementwise", "embed_q8_0"),
    RMS_NORM("elementwise", "rms_norm"),
    ADD_RMS_NORM("elementwise", "add_rms_norm"),
    ADD_BIAS("elementwise", "add_bias"),
    ADD_INPLACE("elementwise", "add_inplace"),
    ROPE("elementwise", "rope"),
    SWIGLU("elementwise", "swiglu"),
    MATVEC_F16("matmul", "matvec_f16"),
    MATVEC_Q8_0("matmul", "matvec_q8_0"),
    GEMM_F16("matmul", "gemm_f16"),
    GEMM_Q8_0("matmul", "gemm_q8_0"),
    KV_APPEND("attention", "kv_append"),
    KV_ROWS_GET("attention", "kv_rows_get"),
    KV_ROWS_PUT("attention", "kv_rows_put"),
    ATTENTION_DECODE("attention", "attention_decode"),
    ATTENTION_REDUCE("attention", "attention_reduce"),
    ATTENTION_PREFILL("attention", "attention_prefill"),
    ARGMAX_ROWS("sampling", "argmax_rows"),
    SAMPLE_ROWS("sampling", "sample_rows"),
    PATCH_PROJECT("vision", "patch_project");

    private final String module;
    private final String entry;

    Kernel(String module, String entry) {
        this.module = module;
        this.entry = entry;
    }

    /** The PTX module, {@code <module>.ptx} among the resources. */
    public String module() {
        return module;
    }

    /** The kernel's name in the PTX ({@code extern "C"}, so unmangled). */
    public String entry() {
        return entry;
    }
}
