package io.kvstream.cli;

import io.kvstream.generate.Engine;
import io.kvstream.kv.KvCache;
import io.kvstream.model.LayerWeights;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.Weights;
import io.kvstream.runtime.MemoryBandwidth;
import io.kvstream.runtime.SequenceStep;
import io.kvstream.sampling.Sampler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code kvstream bench}: prefill and decode throughput at several batch sizes, with decode set
 * against the memory-bandwidth bound measured in the same run.
 */
@Command(
        name = "bench",
        mixinStandardHelpOptions = true,
        description = "Measure prefill and decode tokens/s at several batch sizes, and decode against the memory-bandwidth bound.")
public final class BenchCommand implements Callable<Integer> {

    @Mixin ModelOptions modelOptions;

    @Option(names = "--batch", split = ",", paramLabel = "B", description = "batch sizes (default: ${DEFAULT-VALUE})")
    int[] batches = {1, 8, 32};

    @Option(names = "--prompt-len", paramLabel = "L", description = "prompt tokens per sequence (default: ${DEFAULT-VALUE})")
    int promptLength = 128;

    @Option(names = "--gen", paramLabel = "N", description = "decode steps (default: ${DEFAULT-VALUE})")
    int generate = 32;

    @Option(names = "--warmup", paramLabel = "N", description = "untimed decode steps before timing, after an untimed run of each batch size (0: no warm-up) (default: ${DEFAULT-VALUE})")
    int warmup = 4;

    @Option(names = "--no-bandwidth", description = "skip the memory bandwidth measurement")
    boolean noBandwidth;

    @Override
    public Integer call() throws Exception {
        try (Engine engine = modelOptions.open()) {
            ModelConfig c = engine.config();
            long weightBytes = bytesReadPerStep(engine.model().weights());
            System.out.printf("model %s: %s dim=%d layers=%d heads=%d/%d vocab=%d, %.1f MiB of weights read per step, %d threads%n",
                    modelOptions.modelPath().getFileName(), c.architecture(), c.dim(), c.layers(), c.heads(), c.kvHeads(),
                    c.vocabSize(), weightBytes / 1048576.0, modelOptions.threads);
            double bandwidth = Double.NaN;
            if (!noBandwidth) {
                bandwidth = MemoryBandwidth.measure(modelOptions.threads);
                System.out.printf("memory bandwidth (read, %d threads): %.1f GB/s -> decode bound at batch 1: %.1f tokens/s%n",
                        modelOptions.threads, bandwidth / 1e9, bandwidth / weightBytes);
            }
            System.out.printf("%6s %10s %14s %14s %12s%n", "batch", "prompt", "prefill tok/s", "decode tok/s", "of bound");
            for (int b : batches) {
                if (warmup > 0) {
                    run(engine, b, 1); // JIT warm-up on the same shapes; not reported
                }
                double[] r = run(engine, b, generate);
                double bound = bandwidth / weightBytes;
                System.out.printf("%6d %10d %14.1f %14.1f %11.1f%%%n", b, promptLength, r[0], r[1],
                        Double.isNaN(bound) ? Double.NaN : 100.0 * r[1] / b / bound);
            }
            return 0;
        }
    }

    /** Prefill of {@code batch} prompts in one step, then decode steps of one token each. */
    private double[] run(Engine engine, int batch, int decodeSteps) {
        ModelConfig c = engine.config();
        SplittableRandom random = new SplittableRandom(batch);
        List<KvCache> caches = new ArrayList<>();
        List<SequenceStep> steps = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            KvCache cache = engine.newFullCache();
            caches.add(cache);
            SequenceStep step = new SequenceStep(cache);
            for (int t = 0; t < promptLength; t++) {
                step.add(random.nextInt(c.vocabSize()));
            }
            steps.add(step);
        }
        long t0 = System.nanoTime();
        engine.backend().forward(steps);
        double prefill = (double) batch * promptLength / ((System.nanoTime() - t0) / 1e9);
        int[] next = new int[batch];
        for (int i = 0; i < batch; i++) {
            next[i] = Sampler.argmax(steps.get(i).logits(), 0, c.vocabSize());
        }
        long start = 0;
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
        double decode = (double) batch * decodeSteps / ((System.nanoTime() - start) / 1e9);
        return new double[] {prefill, decode};
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
