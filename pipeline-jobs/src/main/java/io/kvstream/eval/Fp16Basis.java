package io.kvstream.eval;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.block.BlockFormat;
import io.kvstream.kv.block.BlockLayout;
import io.kvstream.kv.codec.Fp16Codec;
import io.kvstream.kv.codec.KvCodec;
import io.kvstream.kv.state.EncodedBlockSerializer;
import io.kvstream.kv.state.HistoryChunks;
import io.kvstream.kv.state.SessionMeta;

import java.util.Arrays;

/**
 * What an {@code fp16} cache would store for the tokens a cache holds: the basis of "x smaller
 * than fp16", so that each run states its ratio without a second, fp16 run over the same set.
 * Counted as {@link CompressedKvCache#storedBytes()} counts, from the same serializers.
 */
final class Fp16Basis {

    private Fp16Basis() {}

    /** Bytes an fp16 cache fed the same tokens stores; valid for caches that evict nothing. */
    static long storedBytes(CompressedKvCache cache) {
        KvCodec fp16 = new Fp16Codec(cache.headDim());
        int blockTokens = cache.blockTokens();
        BlockLayout layout = BlockLayout.of(fp16, cache.layers(), cache.kvHeads(), cache.headDim(), blockTokens);
        int tokens = cache.tokens();
        long total = SessionMeta.serializedSize("fp16", "0".repeat(CompressedKvCache.FINGERPRINT_CHARS))
                + HistoryChunks.serializedSize(tokens);
        int[] payloads = new int[layout.heads()];
        for (int first = 0; first < tokens; first += blockTokens) {
            int n = Math.min(blockTokens, tokens - first);
            Arrays.fill(payloads, fp16.encodedBytes(n, 0));
            total += EncodedBlockSerializer.serializedSize(BlockFormat.size(layout, n, false, false, payloads));
        }
        return total;
    }
}
