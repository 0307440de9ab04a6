package io.kvstream.runtime.cpu;

import io.kvstream.model.LayerWeights;
import io.kvstream.model.Model;
import io.kvstream.model.Weights;
import io.kvstream.model.tensor.Activations;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.Tensors;
import io.kvstream.model.tensor.TouchAhead;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.io.IOException;
import java.lang.ref.WeakReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A model's weights as the CPU backend multiplies them: its Q8_0 and Q4_0 matrices copied onto
 * the heap with their rows interleaved (see {@link Tensors#interleaved}), everything else read in
 * place from the mapped file. Decode reads every weight once per step, and from the heap it does
 * so about twice as fast (docs/benchmarks.md, "Weights on the heap").
 *
 * <p>The copy costs heap the size of those matrices. Backends in one JVM that open the same
 * unchanged file share one copy, so a TaskManager whose slots each run the inference operator
 * holds the weights once; the copy goes when the last backend using it is collected. When the
 * heap cannot hold it, or {@code -Dkvstream.cpu.weights=mapped} says so, the weights stay mapped.
 */
final class CpuWeights {

    /** {@code heap} (the default) or {@code mapped}. */
    static final String PROPERTY = "kvstream.cpu.weights";
    /**
     * How the heap copies of Q4_0 matrices take activations: {@code q8_0} (the default, as
     * llama.cpp) or {@code f32} ({@link Activations}).
     */
    static final String ACTIVATIONS = "kvstream.cpu.activations";

    private static final Logger LOG = LoggerFactory.getLogger(CpuWeights.class);

    /** Copies by file (path, size, modification time), held while some backend holds them. */
    private static final Map<String, WeakReference<Weights>> SHARED = new HashMap<>();

    private CpuWeights() {}

    static Weights of(Model model) {
        Runtime runtime = Runtime.getRuntime();
        return of(model, runtime.maxMemory() - (runtime.totalMemory() - runtime.freeMemory()));
    }

    /** As {@link #of(Model)}, with {@code free} bytes of heap to spare. */
    static synchronized Weights of(Model model, long free) {
        Weights mapped = model.weights();
        long bytes = 0;
        for (FloatTensor t : matrices(mapped)) {
            bytes += Tensors.interleavedBytes(t);
        }
        if (bytes == 0) {
            return mapped;
        }
        Activations activations = activations();
        String mode = System.getProperty(PROPERTY, "heap");
        if (mode.equals("mapped")) {
            LOG.info("{}: weights read in place from the mapped file (-D{}=mapped)", model.source(), PROPERTY);
            return mapped;
        }
        if (!mode.equals("heap")) {
            throw new IllegalArgumentException(
                    String.format("-D%s must be heap or mapped, not '%s'", PROPERTY, mode));
        }
        String key = key(model.source(), activations);
        Weights shared = key == null ? null : deref(SHARED.get(key));
        if (shared != null) {
            LOG.info("{}: sharing the {} MB heap copy of its weights already made in this JVM",
                    model.source(), mb(bytes));
            return shared;
        }
        if (bytes > free) {
            LOG.warn("{}: the heap copy of its Q8_0/Q4_0 weights needs {} MB but only {} MB of heap"
                            + " are free, so they are read from the mapped file, which makes decode"
                            + " about half as fast. Give the JVM more heap (-Xmx through"
                            + " KVSTREAM_JAVA_OPTS; taskmanager.memory.task.heap.size on Flink), or"
                            + " set -D{}=mapped to choose this.",
                    model.source(), mb(bytes), mb(free), PROPERTY);
            return mapped;
        }
        long start = System.nanoTime();
        Weights heap = interleave(mapped, activations);
        LOG.info("{}: copied {} MB of weights onto the heap for the CPU kernels in {} ms"
                        + " (Q4_0 activations: {}, -D{})",
                model.source(), mb(bytes), (System.nanoTime() - start) / 1_000_000,
                activations.name().toLowerCase(Locale.ROOT), ACTIVATIONS);
        start = System.nanoTime();
        TouchAhead.Decision touch = TouchAhead.decide(matrices(heap));
        LOG.info("{}: touching the next block's cache lines ahead: {}, decided in {} ms",
                model.source(), touch, (System.nanoTime() - start) / 1_000_000);
        if (key != null) {
            SHARED.values().removeIf(r -> r.get() == null);
            SHARED.put(key, new WeakReference<>(heap));
        }
        return heap;
    }

    private static Activations activations() {
        String name = System.getProperty(ACTIVATIONS, "q8_0");
        try {
            return Activations.parse(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(String.format("-D%s must be f32 or q8_0, not '%s'", ACTIVATIONS, name), e);
        }
    }

    private static Weights interleave(Weights w, Activations activations) {
        Map<FloatTensor, FloatTensor> copies = new IdentityHashMap<>();
        List<LayerWeights> layers = new ArrayList<>(w.layers().size());
        for (LayerWeights l : w.layers()) {
            layers.add(new LayerWeights(
                    l.attnNorm(),
                    copy(copies, l.wq(), activations), copy(copies, l.wk(), activations),
                    copy(copies, l.wv(), activations), copy(copies, l.wo(), activations),
                    l.bq(), l.bk(), l.bv(),
                    l.ffnNorm(),
                    copy(copies, l.wGate(), activations), copy(copies, l.wUp(), activations),
                    copy(copies, l.wDown(), activations)));
        }
        FloatTensor output = copy(copies, w.output(), activations);
        // The embedding table serves one row per token, which the mapped file does as well;
        // it is copied only when it is also the output matrix (tied), and then only once.
        FloatTensor embedding = w.tokenEmbedding() == w.output() ? output : w.tokenEmbedding();
        return new Weights(embedding, layers, w.outputNorm(), output);
    }

    private static FloatTensor copy(Map<FloatTensor, FloatTensor> copies, FloatTensor t, Activations activations) {
        return copies.computeIfAbsent(t, m -> Tensors.interleaved(m, activations));
    }

    /** The matrices the forward pass multiplies by. */
    private static List<FloatTensor> matrices(Weights w) {
        Map<FloatTensor, Boolean> seen = new IdentityHashMap<>();
        for (LayerWeights l : w.layers()) {
            for (FloatTensor t : List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown())) {
                seen.put(t, Boolean.TRUE);
            }
        }
        seen.put(w.output(), Boolean.TRUE);
        return new ArrayList<>(seen.keySet());
    }

    /**
     * Names a copy: an unchanged model file and how its Q4_0 copies take activations; null for
     * anything else (a folder, a model built in memory).
     */
    @Nullable
    private static String key(Path source, Activations activations) {
        try {
            if (!Files.isRegularFile(source)) {
                return null;
            }
            return String.format(Locale.ROOT, "%s|%d|%d|%s", source.toRealPath(), Files.size(source),
                    Files.getLastModifiedTime(source).toMillis(), activations);
        } catch (IOException e) {
            return null;
        }
    }

    @Nullable
    private static Weights deref(@Nullable WeakReference<Weights> ref) {
        return ref == null ? null : ref.get();
    }

    private static long mb(long bytes) {
        return bytes >> 20;
    }
}
