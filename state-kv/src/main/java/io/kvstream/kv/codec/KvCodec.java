package io.kvstream.kv.codec;

/**
 * Encodes the keys and values of a run of tokens of one (layer, kv head), as held in one block.
 *
 * <p>Arrays are {@code [slot][headDim]}. The last {@code residual} tokens of a run are kept in
 * fp16 rather than quantized (KIVI's residual); {@link #residual} says how many a codec keeps.
 * Instances hold scratch buffers: one per cache, not shared between threads.
 */
public interface KvCodec {

    /** Codec ids as written in block headers; never reuse a number. */
    int ID_FP32 = 1;
    int ID_FP16 = 2;
    int ID_INT8 = 3;
    int ID_KIVI = 4;

    /** The {@code --kv} name, e.g. {@code kivi2}. */
    String name();

    int id();

    /** Bits per quantized element; 16 or 32 for the float codecs. */
    int bits();

    /** Tokens per key group (1 for per-token codecs). */
    int keyGroup();

    /** Channels per value group ({@code headDim} for per-token codecs). */
    int valueGroup();

    int headDim();

    /**
     * How many of {@code tokens} trailing tokens stay fp16: in an open block (one that may still
     * receive tokens) a KIVI codec keeps an unfilled key group as residual; sealed runs quantize
     * every token.
     */
    int residual(int tokens, boolean open);

    /** Exact encoded size of a run. */
    int encodedBytes(int tokens, int residual);

    /** Encodes slots {@code [slot, slot + tokens)}; returns the bytes written. */
    int encode(float[] keys, float[] values, int slot, int tokens, int residual, byte[] out, int off);

    /** Decodes a run written by {@link #encode} into slots {@code [slot, slot + tokens)}. */
    void decode(byte[] in, int off, int tokens, int residual, float[] keys, float[] values, int slot);
}
