package io.kvstream.runtime.cpu;

import io.kvstream.model.gguf.GgufFile;
import io.kvstream.model.tensor.Activations;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.Tensors;
import io.kvstream.runtime.Parallel;

import java.nio.file.Path;
import java.util.Random;

/**
 * A layer's seven matrix multiplies in the order the CPU backend runs them, through {@link
 * MatMul}, over the heap copies of six layers in turn (so the weights stream from memory, as in
 * prefill): GFLOP/s per round. Only the multiplies, without the layer's other work. In this
 * package because {@link MatMul} is package-private: run.sh compiles it beside the jar.
 *
 * <p>Arguments: GGUF file, tokens per step, threads, and {@code f32} or {@code q8_0} for the heap
 * copies' activations ({@link Activations}).
 */
public final class LayerMatMul {

    private static final String[] MATRICES = {
        "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"
    };
    /** Whether the backend says the matrix takes the previous one's activations (k, v, up). */
    private static final boolean[] SAME_ACTIVATIONS = {false, true, true, false, false, true, false};
    private static final int LAYERS = 6;
    private static final int ROUNDS = 10;
    private static final int STEPS_PER_ROUND = 30;

    private LayerMatMul() {}

    public static void main(String[] args) throws Exception {
        int tokens = Integer.parseInt(args[1]);
        int threads = Integer.parseInt(args[2]);
        Activations activations = Activations.valueOf(args[3].toUpperCase(java.util.Locale.ROOT));
        try (GgufFile gguf = GgufFile.open(Path.of(args[0])); Parallel parallel = new Parallel(threads)) {
            FloatTensor[][] w = new FloatTensor[LAYERS][MATRICES.length];
            for (int l = 0; l < LAYERS; l++) {
                for (int i = 0; i < MATRICES.length; i++) {
                    w[l][i] = Tensors.interleaved(gguf.tensor("blk." + l + "." + MATRICES[i] + ".weight"), activations);
                }
            }
            int widest = 0;
            double flop = 0;
            for (FloatTensor m : w[0]) {
                widest = Math.max(widest, Math.max(m.rows(), m.cols()));
                flop += 2.0 * tokens * m.rows() * m.cols();
            }
            float[] x = new float[tokens * widest];
            Random random = new Random(1);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) random.nextGaussian();
            }
            float[] out = new float[tokens * widest];
            MatMul matMul = new MatMul(parallel);
            for (int round = 0; round < ROUNDS; round++) {
                long start = System.nanoTime();
                for (int step = 0; step < STEPS_PER_ROUND; step++) {
                    FloatTensor[] layer = w[step % LAYERS];
                    for (int i = 0; i < layer.length; i++) {
                        if (SAME_ACTIVATIONS[i]) {
                            matMul.sameActivationsNext();
                        }
                        matMul.multiply(layer[i], x, layer[i].cols(), tokens, out, layer[i].rows());
                    }
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                System.out.printf("round %d: %.1f GFLOP/s%n", round, STEPS_PER_ROUND * flop / seconds / 1e9);
            }
        }
    }
}
