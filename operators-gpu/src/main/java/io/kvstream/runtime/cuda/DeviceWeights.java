package io.kvstream.runtime.cuda;

import io.kvstream.model.LayerWeights;
import io.kvstream.model.Weights;
import io.kvstream.model.tensor.FloatTensor;

import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * All weights of a model, uploaded once. A tensor used twice (tied embedding and output) is
 * uploaded once.
 */
final class DeviceWeights implements AutoCloseable {

    /** One transformer block on the device; biases are null where the model has none. */
    record Layer(
            DeviceBuffer attnNorm,
            DeviceMatrix wq,
            DeviceMatrix wk,
            DeviceMatrix wv,
            DeviceMatrix wo,
            @Nullable DeviceBuffer bq,
            @Nullable DeviceBuffer bk,
            @Nullable DeviceBuffer bv,
            DeviceBuffer ffnNorm,
            DeviceMatrix wGate,
            DeviceMatrix wUp,
            DeviceMatrix wDown) {}

    private final Map<FloatTensor, DeviceMatrix> matrices = new IdentityHashMap<>();
    private final List<DeviceBuffer> vectors = new ArrayList<>();
    private final DeviceMatrix embedding;
    private final List<Layer> layers = new ArrayList<>();
    private final DeviceBuffer outputNorm;
    private final DeviceMatrix output;

    DeviceWeights(Weights w) {
        try {
            this.embedding = matrix(w.tokenEmbedding());
            for (LayerWeights l : w.layers()) {
                layers.add(new Layer(
                        vector(l.attnNorm()), matrix(l.wq()), matrix(l.wk()), matrix(l.wv()), matrix(l.wo()),
                        l.bq() != null ? vector(l.bq()) : null,
                        l.bk() != null ? vector(l.bk()) : null,
                        l.bv() != null ? vector(l.bv()) : null,
                        vector(l.ffnNorm()), matrix(l.wGate()), matrix(l.wUp()), matrix(l.wDown())));
            }
            this.outputNorm = vector(w.outputNorm());
            this.output = matrix(w.output());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private DeviceMatrix matrix(FloatTensor t) {
        return matrices.computeIfAbsent(t, DeviceMatrix::upload);
    }

    private DeviceBuffer vector(float[] v) {
        DeviceBuffer b = new DeviceBuffer((long) v.length * Float.BYTES);
        vectors.add(b);
        b.upload(v, v.length);
        return b;
    }

    DeviceMatrix embedding() {
        return embedding;
    }

    Layer layer(int l) {
        return layers.get(l);
    }

    DeviceBuffer outputNorm() {
        return outputNorm;
    }

    DeviceMatrix output() {
        return output;
    }

    /** Device bytes the weights take. */
    long bytes() {
        long total = 0;
        for (DeviceMatrix m : matrices.values()) {
            total += m.bytes();
        }
        for (DeviceBuffer b : vectors) {
            total += b.bytes();
        }
        return total;
    }

    @Override
    public void close() {
        matrices.values().forEach(DeviceMatrix::close);
        matrices.clear();
        vectors.forEach(DeviceBuffer::close);
        vectors.clear();
    }
}
