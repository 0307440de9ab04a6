package io.kvstream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.ModelLoader;
import io.kvstream.testing.RefModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * {@code bench --kv} on the CPU with the reference model: the benched sequences use the given
 * cache, and the JSON reports what they store and what attention reads (the GPU run's KV
 * comparison reads these fields, bench/gpu/h100.sh).
 */
class BenchCommandTest {

    private static final int PROMPT = 70;
    private static final int WARMUP = 1;
    private static final int GEN = 3;
    private static final int BATCH = 2;

    @TempDir Path tmp;

    private JsonNode bench(String... extra) throws IOException {
        return benchAt(String.valueOf(PROMPT), extra);
    }

    /** bench with the test's settings and {@code extra}; picocli adds repeated list options up. */
    private JsonNode benchAt(String promptLengths, String... extra) throws IOException {
        Path json = tmp.resolve("bench-" + extra.length + "-" + String.join("_", extra).replace(':', '-') + ".json");
        String[] base = {
            "--model", RefModel.file("refmodel-q8_0.gguf").toString(), "--device", "cpu", "--threads", "2",
            "--batch", String.valueOf(BATCH), "--prompt-len", promptLengths, "--gen", String.valueOf(GEN),
            "--warmup", String.valueOf(WARMUP), "--no-bandwidth", "--prefill-batch", "1", "--json", json.toString(),
        };
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        assertThat(new CommandLine(new BenchCommand()).execute(args)).isZero();
        return new ObjectMapper().readTree(json.toFile());
    }

    @Test
    void kvSpecSetsTheCacheAndItsBytesAreReported() throws IOException {
        JsonNode dense = bench();
        JsonNode fp16 = bench("--kv", "fp16");
        JsonNode kivi2 = bench("--kv", "kivi2");

        ModelConfig c = ModelLoader.load(RefModel.file("refmodel-q8_0.gguf")).config();
        // Every sequence holds its prompt, the warm-up and the timed decode tokens, as fp32 keys and values.
        long attended = (long) BATCH * (PROMPT + WARMUP + GEN) * c.layers() * c.kvHeads() * c.headDim() * 2 * Float.BYTES;
        assertThat(dense.get("kv").asText()).isEqualTo("dense");
        assertThat(fp16.get("kv").asText()).isEqualTo("fp16");
        assertThat(kivi2.get("kv").asText()).startsWith("kivi2");
        for (JsonNode report : new JsonNode[] {dense, fp16, kivi2}) {
            assertThat(report.get("backend").asText()).isEqualTo("CpuBackend");
            assertThat(report.get("config").get("layers").asInt()).isEqualTo(c.layers());
            assertThat(report.get("weight_bytes_per_token").asLong()).isPositive();
            assertThat(report.get("host_bandwidth_bytes_per_s").isNull()).isTrue();
            assertThat(report.get("host_fp32_fma_peak_flops_per_s").isNull()).isTrue();
            assertThat(report.has("host_bandwidth_bytes_per_s_runs")).isFalse();
            JsonNode row = report.get("rows").get(0);
            assertThat(row.get("batch").asInt()).isEqualTo(BATCH);
            assertThat(row.get("prompt_len").asInt()).isEqualTo(PROMPT);
            assertThat(row.get("prefill_tok_s").asDouble()).isPositive();
            assertThat(row.get("decode_tok_s").asDouble()).isPositive();
            assertThat(row.get("kv_attended_bytes").asLong()).isEqualTo(attended);
        }
        long denseStored = dense.get("rows").get(0).get("kv_stored_bytes").asLong();
        long fp16Stored = fp16.get("rows").get(0).get("kv_stored_bytes").asLong();
        long kivi2Stored = kivi2.get("rows").get(0).get("kv_stored_bytes").asLong();
        // A dense cache stores what it holds; fp16 about half of that; KIVI-2 well under fp16.
        assertThat(denseStored).isEqualTo(attended);
        assertThat(fp16Stored).isBetween(attended / 2, attended / 2 + attended / 10);
        assertThat(kivi2Stored).isLessThan(fp16Stored / 2);
    }

    @Test
    void severalPromptLengthsAndRepeatsGiveOneRowEachWithTheirRuns() throws IOException {
        JsonNode report = benchAt("8,16", "--repeat", "3");
        assertThat(report.get("rows")).hasSize(2);
        assertThat(report.get("rows").get(1).get("prompt_len").asInt()).isEqualTo(16);
        JsonNode runs = report.get("rows").get(0).get("prefill_tok_s_runs");
        assertThat(runs).hasSize(3);
        double[] values = {runs.get(0).asDouble(), runs.get(1).asDouble(), runs.get(2).asDouble()};
        assertThat(report.get("rows").get(0).get("prefill_tok_s").asDouble()).isEqualTo(BenchCommand.median(values));
        // Each timed prefill's heap allocation, at least the dense cache it filled (a copy grows it).
        JsonNode allocated = report.get("rows").get(0).get("prefill_allocated_bytes_runs");
        assertThat(allocated).hasSize(3);
        long kvPerRun = report.get("rows").get(0).get("kv_stored_bytes").asLong() * 8 / (8 + WARMUP + GEN);
        for (JsonNode a : allocated) {
            assertThat(a.asLong()).isGreaterThanOrEqualTo(kvPerRun);
        }
    }

    @Test
    void eachBoundIsTheBestOfItsMeasurementsAndEveryRowsShareFollowsIt() {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode report = mapper.createObjectNode();
        report.put("weight_bytes_per_token", 1_000_000_000L);
        ArrayNode rows = report.putArray("rows");
        rows.addObject().put("batch", 1).put("prefill_tok_s", 200.0).put("prefill_flops_per_token", 2e9)
                .put("decode_tok_s", 40.0);
        rows.addObject().put("batch", 8).put("prefill_tok_s", 220.0).put("prefill_flops_per_token", 2e9)
                .putNull("decode_tok_s");
        // The first bandwidth and the second peak are the better ones: neither measurement alone.
        BenchCommand.applyBounds(report, new double[] {50e9, 40e9}, new double[] {400e9, 500e9});

        assertThat(report.get("host_bandwidth_bytes_per_s").asDouble()).isEqualTo(50e9);
        assertThat(report.get("host_fp32_fma_peak_flops_per_s").asDouble()).isEqualTo(500e9);
        assertThat(report.get("host_bandwidth_bytes_per_s_runs")).extracting(JsonNode::asDouble).containsExactly(50e9, 40e9);
        assertThat(report.get("host_fp32_fma_peak_flops_per_s_runs")).extracting(JsonNode::asDouble)
                .containsExactly(400e9, 500e9);
        JsonNode one = report.get("rows").get(0);
        assertThat(one.get("prefill_of_fma_peak").asDouble()).isCloseTo(200.0 * 2e9 / 500e9, within(1e-12));
        // 50 GB/s over 1 GB a step: 50 tokens/s at batch 1.
        assertThat(one.get("decode_of_bandwidth_bound").asDouble()).isCloseTo(40.0 / 50.0, within(1e-12));
        JsonNode eight = report.get("rows").get(1);
        assertThat(eight.get("prefill_of_fma_peak").asDouble()).isCloseTo(220.0 * 2e9 / 500e9, within(1e-12));
        assertThat(eight.get("decode_of_bandwidth_bound").isNull()).isTrue();
    }

    @Test
    void aPrefillThatAllocatesLikeTheJavaFallbackIsWarnedAbout() {
        long tokens = 2 * 128;
        // Compiled kernels: the KV cache, 70 KB per token for synth 1B.
        assertThat(BenchCommand.allocationWarning(new long[] {70_000 * tokens, 72_000 * tokens}, 2, 128)).isNull();
        assertThat(BenchCommand.allocationWarning(new long[] {-1, -1}, 2, 128)).isNull();
        // One run of two over the threshold is enough: that run's figure is not the kernels'.
        long over = BenchCommand.PREFILL_ALLOCATION_WARNING_PER_TOKEN * tokens + 1;
        assertThat(BenchCommand.allocationWarning(new long[] {70_000 * tokens, over}, 2, 128))
                .contains("batch 2, 128 tokens").contains("1.0 MiB per token").contains("Java fallback");
    }

    @Test
    void prefillFlopsCountEveryLayerMatrixPerTokenAndTheOutputOncePerSequence() throws IOException {
        JsonNode report = bench();
        JsonNode c = report.get("config");
        long dim = c.get("dim").asLong();
        long q = c.get("heads").asLong() * c.get("head_dim").asLong();
        long kv = c.get("kv_heads").asLong() * c.get("head_dim").asLong();
        long perLayer = dim * q + 2 * dim * kv + q * dim + 3 * dim * c.get("hidden_dim").asLong();
        double expected = 2.0 * c.get("layers").asLong() * perLayer + 2.0 * c.get("vocab").asLong() * dim / PROMPT;
        assertThat(report.get("rows").get(0).get("prefill_flops_per_token").asDouble()).isEqualTo(expected);
        // Without a measured peak there is no fraction of it.
        assertThat(report.get("rows").get(0).get("prefill_of_fma_peak").isNull()).isTrue();
    }

    @Test
    void synthWritesTheHuggingFaceFolderAlone() throws IOException {
        Path hf = tmp.resolve("hf");
        int rc = new CommandLine(new SynthCommand()).execute("--shape", "tiny", "--quant", "f16",
                "--hf", hf.toString(), "--tokenizer-from", RefModel.file("refmodel-q8_0.gguf").toString());
        assertThat(rc).isZero();
        assertThat(hf.resolve("model.safetensors")).isRegularFile();
        assertThat(hf.resolve("config.json")).isRegularFile();
        try (var files = Files.list(tmp)) {
            assertThat(files.filter(p -> p.toString().endsWith(".gguf"))).isEmpty();
        }
        assertThat(new CommandLine(new SynthCommand()).execute("--shape", "tiny")).isEqualTo(2);
    }
}
