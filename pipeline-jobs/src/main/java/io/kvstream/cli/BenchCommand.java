package io.kvstream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvstream.generate.Engine;
import io.kvstream.kv.KvCache;
import io.kvstream.kv.KvSpec;
import io.kvstream.model.LayerWeights;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.Weights;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.runtime.FmaPeak;
import io.kvstream.runtime.MemoryBandwidth;
import io.kvstream.runtime.VmOption;
import io.kvstream.runtime.cpu.CpuBackend;
import io.kvstream.runtime.SequenceStep;
import io.kvstream.sampling.Sampler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;


import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

import static org.apache.flink.util.Preconditions.checkArgument;

/**
 * {@code kvstream bench}: prefill and decode throughput at several batch sizes, with decode set
 * against the memory-bandwidth bound and prefill against the fp32 FMA peak, both measured in the
 * same run.
 */
@Command(
        name = "bench",
        mixinStandardHelpOptions = true,
        description = "Measure prefill and decode tokens/s at several batch sizes, decode against the memory-bandwidth bound"
                + " and prefill against the fp32 FMA peak.")
public final class BenchCommand implements Callable<Integer> {

    @Mixin ModelOptions modelOptions;

    @Option(names = "--batch", split = ",", paramLabel = "B", description = "batch sizes (default: ${DEFAULT-VALUE})")
    int[] batches = {1, 8, 32};

    @Option(names = "--prompt-len", split = ",", paramLabel = "L",
            description = "prompt tokens per sequence; with several, every batch size runs at each (default: ${DEFAULT-VALUE})")
    int[] promptLengths = {128};

    @Option(names = "--gen", paramLabel = "N", description = "decode steps (default: ${DEFAULT-VALUE})")
    int generate = 32;

    @Option(names = "--warmup", paramLabel = "N", description = "untimed decode steps before timing, after an untimed run of each batch size (0: no warm-up) (default: ${DEFAULT-VALUE})")
    int warmup = 4;

    @Option(names = "--repeat", paramLabel = "N",
            description = "timed runs of each row; the median is reported (a short prefill is one step, too short to time once) (default: ${DEFAULT-VALUE})")
    int repeat = 1;

    @Option(names = "--prefill-batch", paramLabel = "N",
            description = "sequences per prefill step (default: all of the batch in one step); long prompts at large"
                    + " batches need less device memory for activations in smaller steps")
    int prefillBatch = Integer.MAX_VALUE;

    @Option(names = "--kv", paramLabel = "SPEC",
            description = "cache of the benched sequences, as eval's --kv without dtd (e.g. fp16, kivi2);"
                    + " reports the KV bytes it stores and the bytes attention reads per step (default: dense fp32)")
    @Nullable
    String kv;

    @Option(names = "--json", paramLabel = "OUT.json", description = "also write the results here")
    @Nullable
    Path json;

    @Option(names = "--no-bandwidth", description = "skip the machine's bounds: the memory bandwidth and fp32 FMA peak measurements")
    boolean noBandwidth;

    /**
     * Bytes per prompt token a timed prefill may allocate before {@code bench} warns. A prefill on
     * compiled kernels allocates the KV cache it fills (70 KB per token for synth 1B); a kernel on
     * the Vector API's Java fallback instead of C2's intrinsics allocates an array for every vector
     * operation, tens of megabytes per token (docs/benchmarks.md, eighteenth stop).
     */
    static final long PREFILL_ALLOCATION_WARNING_PER_TOKEN = 1L << 20;

    /** One row's medians, each timed prefill's heap allocation, and what its caches held at the end. */
    private record Result(double prefill, double decode, double[] prefills, double[] decodes,
            long[] prefillAllocations, long kvStoredBytes, long kvAttendedBytes) {}

    @Override
    public Integer call() throws Exception {
        checkArgument(repeat > 0, "--repeat must be positive, got %s", repeat);
        checkArgument(prefillBatch > 0, "--prefill-batch must be positive, got %s", prefillBatch);
        checkArgument(generate >= 0 && warmup >= 0, "--gen and --warmup must not be negative");
        // Parsed before the model loads, so that a bad spec fails at once.
        KvSpec spec = kv == null ? null : KvSpec.parse(kv);
        try (Engine engine = modelOptions.open()) {
            ModelConfig c = engine.config();
            long weightBytes = bytesReadPerStep(engine.model().weights());
            String backend = engine.backend().getClass().getSimpleName();
            System.out.printf("model %s: %s dim=%d layers=%d heads=%d/%d vocab=%d, %.1f MiB of weights read per step, %s, %d threads%n",
                    modelOptions.modelPath().getFileName(), c.architecture(), c.dim(), c.layers(), c.heads(), c.kvHeads(),
                    c.vocabSize(), weightBytes / 1048576.0, backend, modelOptions.threads);
            System.out.printf("Java %s, heap %d MiB, transparent huge pages %s, weights read from %s%n",
                    Runtime.version(), Runtime.getRuntime().maxMemory() >> 20, hugePages() ? "on" : "off",
                    weightSource(engine));
            double bandwidth = Double.NaN;
            double fmaPeak = Double.NaN;
            if (!noBandwidth) {
                bandwidth = MemoryBandwidth.measure(modelOptions.threads);
                System.out.printf("memory bandwidth (read, %d threads): %.1f GB/s -> decode bound at batch 1: %.1f tokens/s%n",
                        modelOptions.threads, bandwidth / 1e9, bandwidth / weightBytes);
                fmaPeak = FmaPeak.measure(modelOptions.threads);
                System.out.printf("fp32 FMA peak (%d threads, %d-lane vectors): %.1f GFLOP/s -> prefill bound: %.1f tokens/s%n",
                        modelOptions.threads, FmaPeak.lanes(), fmaPeak / 1e9,
                        fmaPeak / prefillFlopsPerToken(engine.model().weights(), promptLengths[0]));
            }
            ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            ObjectNode report = header(mapper, c, weightBytes, backend, bandwidth, fmaPeak, spec);
            report.put("cpu_weights", weightSource(engine));
            ArrayNode rows = report.putArray("rows");
            System.out.printf("%6s %10s %14s %12s %14s %12s%s%n", "batch", "prompt", "prefill tok/s", "of peak",
                    "decode tok/s", "of bound",
                    spec == null ? "" : String.format(" %14s %14s", "KV stored MiB", "KV read MiB"));
            for (int promptLength : promptLengths) {
                checkArgument(promptLength > 0, "--prompt-len must be positive, got %s", promptLength);
                for (int b : batches) {
                    checkArgument(b > 0, "--batch must be positive, got %s", b);
                    if (warmup > 0) {
                        run(engine, spec, b, promptLength, 1); // JIT warm-up on the same shapes; not reported
                    }
                    Result r = measure(engine, spec, b, promptLength);
                    double prefillFlops = prefillFlopsPerToken(engine.model().weights(), promptLength);
                    double ofPeak = ofPeak(r.prefill, prefillFlops, fmaPeak);
                    double ofBound = ofBound(r.decode, b, bandwidth, weightBytes);
                    System.out.printf("%6d %10d %14.1f %12s %14.1f %12s%s%n", b, promptLength, r.prefill,
                            Double.isNaN(ofPeak) ? "-" : String.format("%.1f%%", 100.0 * ofPeak), r.decode,
                            Double.isNaN(bandwidth) ? "-" : String.format("%.1f%%", 100.0 * ofBound),
                            spec == null ? "" : String.format(" %14.1f %14.1f",
                                    r.kvStoredBytes / 1048576.0, r.kvAttendedBytes / 1048576.0));
                    ObjectNode row = rows.addObject();
                    row.put("batch", b);
                    row.put("prompt_len", promptLength);
                    row.put("gen", generate);
                    putNumber(row, "prefill_tok_s", r.prefill);
                    putNumber(row, "decode_tok_s", r.decode);
                    row.put("prefill_flops_per_token", prefillFlops);
                    putNumber(row, "prefill_of_fma_peak", ofPeak);
                    putNumber(row, "decode_of_bandwidth_bound", ofBound);
                    putArray(row, "prefill_tok_s_runs", r.prefills);
                    putArray(row, "decode_tok_s_runs", r.decodes);
                    putArray(row, "prefill_allocated_bytes_runs", r.prefillAllocations);
                    String warning = allocationWarning(r.prefillAllocations, b, promptLength);
                    if (warning != null) {
                        System.out.println(warning);
                    }
                    row.put("kv_stored_bytes", r.kvStoredBytes);
                    row.put("kv_attended_bytes", r.kvAttendedBytes);
                    if (json != null) {
                        // Rewritten after every row, so that a run stopped by a time limit keeps what it measured.
                        mapper.writeValue(json.toFile(), report);
                    }
                }
            }
            if (!noBandwidth) {
                // A bound measured once caught the machine in a slow moment often enough to matter
                // (decode at 123% of one, a peak 25% low): each bound is the best of a measurement
                // before the rows and one after them.
                double bandwidthAfter = MemoryBandwidth.measure(modelOptions.threads);
                double fmaPeakAfter = FmaPeak.measure(modelOptions.threads);
                System.out.printf("after the rows: memory bandwidth %.1f GB/s, fp32 FMA peak %.1f GFLOP/s; each bound is the"
                        + " best of its two measurements%n", bandwidthAfter / 1e9, fmaPeakAfter / 1e9);
                applyBounds(report, new double[] {bandwidth, bandwidthAfter}, new double[] {fmaPeak, fmaPeakAfter});
                for (JsonNode row : rows) {
                    System.out.printf("against the best bounds: batch %d, prompt %d: prefill %s of the peak, decode %s of the bound%n",
                            row.get("batch").asInt(), row.get("prompt_len").asInt(),
                            percent(row.get("prefill_of_fma_peak")), percent(row.get("decode_of_bandwidth_bound")));
                }
            }
            if (json != null) {
                mapper.writeValue(json.toFile(), report);
            }
            return 0;
        }
    }

    /**
     * Sets the report's bounds to the best of their measurements, keeps each measurement, and
     * recomputes every row's share of them: prefill against the FMA peak, decode per sequence
     * against the bandwidth bound (the bandwidth over the weight bytes a step reads).
     */
    static void applyBounds(ObjectNode report, double[] bandwidths, double[] fmaPeaks) {
        double bandwidth = Arrays.stream(bandwidths).max().orElse(Double.NaN);
        double fmaPeak = Arrays.stream(fmaPeaks).max().orElse(Double.NaN);
        putNumber(report, "host_bandwidth_bytes_per_s", bandwidth);
        putNumber(report, "host_fp32_fma_peak_flops_per_s", fmaPeak);
        putArray(report, "host_bandwidth_bytes_per_s_runs", bandwidths);
        putArray(report, "host_fp32_fma_peak_flops_per_s_runs", fmaPeaks);
        long weightBytes = report.get("weight_bytes_per_token").asLong();
        for (JsonNode node : report.get("rows")) {
            ObjectNode row = (ObjectNode) node;
            putNumber(row, "prefill_of_fma_peak", ofPeak(row.get("prefill_tok_s").asDouble(Double.NaN),
                    row.get("prefill_flops_per_token").asDouble(), fmaPeak));
            putNumber(row, "decode_of_bandwidth_bound", ofBound(row.get("decode_tok_s").asDouble(Double.NaN),
                    row.get("batch").asInt(), bandwidth, weightBytes));
        }
    }

    /** Prefill's share of the fp32 FMA peak. */
    private static double ofPeak(double prefillTokensPerSecond, double flopsPerToken, double fmaPeak) {
        return prefillTokensPerSecond * flopsPerToken / fmaPeak;
    }

    /** Decode's share, per sequence, of the bandwidth bound: the bandwidth over the weight bytes a step reads. */
    private static double ofBound(double decodeTokensPerSecond, int batch, double bandwidth, long weightBytes) {
        return decodeTokensPerSecond / batch / (bandwidth / weightBytes);
    }

    /** A share from the report, as the rows print it; "-" where it was not measured. */
    private static String percent(JsonNode share) {
        return share.isNumber() ? String.format("%.1f%%", 100.0 * share.asDouble()) : "-";
    }

    private ObjectNode header(ObjectMapper mapper, ModelConfig c, long weightBytes, String backend, double bandwidth,
            double fmaPeak, @Nullable KvSpec spec) throws java.io.IOException {
        ObjectNode report = mapper.createObjectNode();
        report.put("model", modelOptions.modelPath().toString());
        report.put("backend", backend);
        report.put("threads", modelOptions.threads);
        ObjectNode config = report.putObject("config");
        config.put("architecture", c.architecture());
        config.put("dim", c.dim());
        config.put("hidden_dim", c.hiddenDim());
        config.put("layers", c.layers());
        config.put("heads", c.heads());
        config.put("kv_heads", c.kvHeads());
        config.put("head_dim", c.headDim());
        config.put("vocab", c.vocabSize());
        report.put("weight_bytes_per_token", weightBytes);
        putNumber(report, "host_bandwidth_bytes_per_s", bandwidth);
        putNumber(report, "host_fp32_fma_peak_flops_per_s", fmaPeak);
        report.put("fma_peak_lanes", FmaPeak.lanes());
        report.put("kv", spec == null ? "dense" : spec.toString());
        report.put("warmup", warmup);
        report.put("repeat", repeat);
        report.put("prefill_batch", prefillBatch == Integer.MAX_VALUE ? 0 : prefillBatch);
        report.put("java", Runtime.version().toString());
        report.put("transparent_huge_pages", hugePages());
        return report;
    }

    /** Whether the JVM runs with {@code -XX:+UseTransparentHugePages}, which the decode figures depend on. */
    private static boolean hugePages() {
        return VmOption.isOn("UseTransparentHugePages");
    }

    /** Where the forward pass reads its weights: what the CPU backend chose, not what was asked. */
    private static String weightSource(Engine engine) {
        if (engine.backend() instanceof CpuBackend) {
            return ((CpuBackend) engine.backend()).weightsOnHeap() ? "heap" : "mapped";
        }
        return "device";
    }

    /**
     * A warning when a timed prefill allocated as a kernel on the Java fallback does, whose figure
     * is then not the kernels'; null otherwise, and when the JVM does not count (-1).
     */
    @Nullable
    static String allocationWarning(long[] allocations, int batch, int promptLength) {
        long tokens = (long) batch * promptLength;
        long most = Arrays.stream(allocations).max().orElse(-1);
        if (most <= PREFILL_ALLOCATION_WARNING_PER_TOKEN * tokens) {
            return null;
        }
        return String.format("warning: a timed prefill (batch %d, %d tokens) allocated %.1f MiB per token: some kernel ran"
                + " the Vector API's Java fallback, not C2's intrinsics, so this JVM's prefill figure is not the"
                + " kernels' (docs/benchmarks.md)", batch, promptLength, most / 1048576.0 / tokens);
    }

    private static void putArray(ObjectNode node, String field, double[] values) {
        ArrayNode array = node.putArray(field);
        for (double v : values) {
            array.add(v);
        }
    }

    private static void putArray(ObjectNode node, String field, long[] values) {
        ArrayNode array = node.putArray(field);
        for (long v : values) {
            array.add(v);
        }
    }

    /** JSON has no NaN: a quantity not measured is null. */
    private static void putNumber(ObjectNode node, String field, double value) {
        if (Double.isFinite(value)) {
            node.put(field, value);
        } else {
            node.putNull(field);
        }
    }

    private Result measure(Engine engine, @Nullable KvSpec spec, int batch, int promptLength) {
        double[] prefills = new double[repeat];
        double[] decodes = new double[repeat];
        long[] allocations = new long[repeat];
        Result last = null;
        for (int i = 0; i < repeat; i++) {
            last = run(engine, spec, batch, promptLength, generate);
            prefills[i] = last.prefill;
            decodes[i] = last.decode;
            allocations[i] = last.prefillAllocations[0];
        }
        return new Result(median(prefills), median(decodes), prefills, decodes, allocations, last.kvStoredBytes,
                last.kvAttendedBytes);
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /**
     * Prefill of {@code batch} prompts in steps of at most {@code --prefill-batch} sequences, then
     * decode steps of one token each.
     */
    private Result run(Engine engine, @Nullable KvSpec spec, int batch, int promptLength, int decodeSteps) {
        ModelConfig c = engine.config();
        SplittableRandom random = new SplittableRandom(batch);
        List<KvCache> caches = new ArrayList<>();
        List<SequenceStep> steps = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            KvCache cache = spec == null ? engine.newFullCache() : engine.newCache(spec);
            caches.add(cache);
            SequenceStep step = new SequenceStep(cache);
            for (int t = 0; t < promptLength; t++) {
                step.add(random.nextInt(c.vocabSize()));
            }
            steps.add(step);
        }
        AllocatedBytes allocated = AllocatedBytes.start();
        long t0 = System.nanoTime();
        for (int from = 0; from < batch; from += prefillBatch) {
            engine.backend().forward(steps.subList(from, Math.min(batch, from + prefillBatch)));
        }
        double prefill = (double) batch * promptLength / ((System.nanoTime() - t0) / 1e9);
        long prefillAllocated = allocated == null ? -1 : allocated.sinceStart();
        int[] next = new int[batch];
        for (int i = 0; i < batch; i++) {
            next[i] = Sampler.argmax(steps.get(i).logits(), 0, c.vocabSize());
        }
        long start = System.nanoTime();
        for (int s = 0; s < warmup + decodeSteps; s++) {
            if (s == warmup) {
                start = System.nanoTime();
            }
            for (int i = 0; i < batch; i++) {
                steps.get(i).reset(caches.get(i)).add(next[i]);
            }
            engine.backend().forward(steps);
            for (int i = 0; i < batch; i++) {
                next[i] = Sampler.argmax(steps.get(i).logits(), 0, c.vocabSize());
            }
        }
        double decode = decodeSteps == 0
                ? Double.NaN
                : (double) batch * decodeSteps / ((System.nanoTime() - start) / 1e9);
        long stored = 0;
        long attended = 0;
        for (KvCache cache : caches) {
            stored += cache.storedBytes();
            // The slots attention reads at the next step: the host's decoded fp32 rows, which the CUDA
            // backend's page pool mirrors as fp32 whatever the codec (docs/gpu.md).
            attended += cache.bytesInMemory();
        }
        return new Result(prefill, decode, new double[] {prefill}, new double[] {decode}, new long[] {prefillAllocated},
                stored, attended);
    }

    /**
     * Floating-point operations per prompt token of a prefill of {@code promptLength} tokens: a
     * multiply and an add per weight of every layer's matrices, and of the output matrix once per
     * sequence (only the last token gets logits). Attention's own products are left out: at 128
     * tokens they are under 1% of a 1B model's.
     */
    static double prefillFlopsPerToken(Weights w, int promptLength) {
        double layers = 0;
        for (LayerWeights l : w.layers()) {
            layers += elements(l.wq()) + elements(l.wk()) + elements(l.wv()) + elements(l.wo())
                    + elements(l.wGate()) + elements(l.wUp()) + elements(l.wDown());
        }
        return 2 * (layers + elements(w.output()) / promptLength);
    }

    private static double elements(FloatTensor t) {
        return (double) t.rows() * t.cols();
    }

    /** Weight bytes a decode step reads: every matrix, plus the embedding rows (negligible). */
    static long bytesReadPerStep(Weights w) {
        long bytes = 0;
        for (LayerWeights l : w.layers()) {
            bytes += l.wq().byteSize() + l.wk().byteSize() + l.wv().byteSize() + l.wo().byteSize()
                    + l.wGate().byteSize() + l.wUp().byteSize() + l.wDown().byteSize();
        }
        return bytes + w.output().byteSize();
    }
}
