package io.kvstream.kv.memory;

import io.kvstream.kv.block.ParsedBlock;
import io.kvstream.kv.codec.KvCodec;

/**
 * Decodes one (layer, kv head) run of a memory block into scratch arrays and lists the tokens the
 * memory deals with: held, not a sink (the window keeps those), and older than the window's
 * oldest token. Single-threaded; reused for every run.
 */
final class RunReader {

    /** Per layer. */
    private final KvCodec[] codecs;
    private final int kvHeads;
    private final int blockTokens;
    private final int sink;
    /** The decoded run, {@code [slot][headDim]}. */
    final float[] keys;
    final float[] values;
    /** Per listed token: its slot in the decoded run, and its index in the block. */
    final int[] slot;
    final int[] offset;

    RunReader(KvCodec[] codecs, int kvHeads, int blockTokens, int sink, int headDim) {
        this.codecs = codecs;
        this.kvHeads = kvHeads;
        this.blockTokens = blockTokens;
        this.sink = sink;
        this.keys = new float[blockTokens * headDim];
        this.values = new float[blockTokens * headDim];
        this.slot = new int[blockTokens];
        this.offset = new int[blockTokens];
    }

    /** Decodes head {@code lh}'s run and lists its tokens older than {@code firstRecent}; returns how many. */
    int read(ParsedBlock p, int lh, int firstRecent) {
        return read(p, lh, 0, firstRecent);
    }

    /** Like {@link #read(ParsedBlock, int, int)}, listing only tokens from {@code fromToken} on. */
    int read(ParsedBlock p, int lh, int fromToken, int firstRecent) {
        int held = 0;
        for (byte b : p.bitmaps()[lh]) {
            held += Integer.bitCount(b & 0xff);
        }
        KvCodec codec = codecs[lh / kvHeads];
        int residual = codec.residual(held, p.appended() < blockTokens);
        codec.decode(p.bytes(), p.payloadOffsets()[lh], held, residual, keys, values, 0);
        return list(p, lh, fromToken, firstRecent);
    }

    /** Lists, without decoding, the tokens {@link #read} would; returns how many. */
    int list(ParsedBlock p, int lh, int fromToken, int firstRecent) {
        int base = p.index() * blockTokens;
        int s = 0;
        int n = 0;
        for (int j = 0; j < p.appended(); j++) {
            if (!p.holds(lh, j)) {
                continue;
            }
            int token = base + j;
            if (token >= sink && token >= fromToken && token < firstRecent) {
                slot[n] = s;
                offset[n] = j;
                n++;
            }
            s++;
        }
        return n;
    }

    /** The position the key of the block's token {@code j} was rotated to when written. */
    int position(ParsedBlock p, int j) {
        return p.ropePositions() == null ? p.index() * blockTokens + j : p.ropePositions()[j];
    }
}
