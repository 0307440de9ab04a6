package io.kvstream.kv.codec;

/**
 * A codec that encodes each token on its own (fp32, fp16, int8): no groups across tokens, so
 * nothing is held back as a residual and any run of tokens encodes the same whatever its
 * boundaries.
 */
abstract class PerTokenCodec implements KvCodec {

    protected final int headDim;

    PerTokenCodec(int headDim) {
        this.headDim = headDim;
    }

    @Override
    public final int keyGroup() {
        return 1;
    }

    @Override
    public final int valueGroup() {
        return headDim;
    }

    @Override
    public final int headDim() {
        return headDim;
    }

    @Override
    public final int residual(int tokens, boolean open) {
        return 0;
    }
}
