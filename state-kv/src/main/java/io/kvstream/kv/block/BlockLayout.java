package io.kvstream.kv.block;

import io.kvstream.kv.codec.KvCodec;

/** What every block of a cache shares: codec, shape and block size; written in each header. */
public record BlockLayout(
        int codecId, int bits, int keyGroup, int valueGroup,
        int layers, int kvHeads, int headDim, int blockTokens) {

    public static BlockLayout of(KvCodec codec, int layers, int kvHeads, int headDim, int blockTokens) {
        return new BlockLayout(
                codec.id(), codec.bits(), codec.keyGroup(), codec.valueGroup(),
                layers, kvHeads, headDim, blockTokens);
    }

    public int heads() {
        return layers * kvHeads;
    }

    public int bitmapBytes() {
        return (blockTokens + 7) >>> 3;
    }
}
