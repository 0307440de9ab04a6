package io.kvstream.kv.codec;

/**
 * Symmetric per-token int8: each token's key (and value) vector of one head gets one fp16 scale,
 * {@code absmax / 127} rounded up so that no element clips; the error is at most half a step.
 */
public final class Int8Codec extends PerTokenCodec {

    public Int8Codec(int headDim) {
        super(headDim);
    }

    @Override
    public String name() {
        return "int8";
    }

    @Override
    public int id() {
        return ID_INT8;
    }

    @Override
    public int bits() {
        return 8;
    }

    @Override
    public int encodedBytes(int tokens, int residual) {
        return 2 * tokens * (2 + headDim);
    }

    @Override
    public int encode(float[] keys, float[] values, int slot, int tokens, int residual, byte[] out, int off) {
        int o = off;
        for (int t = 0; t < tokens; t++) {
            o = encodeRow(keys, (slot + t) * headDim, out, o);
        }
        for (int t = 0; t < tokens; t++) {
            o = encodeRow(values, (slot + t) * headDim, out, o);
        }
        return o - off;
    }

    @Override
    public void decode(byte[] in, int off, int tokens, int residual, float[] keys, float[] values, int slot) {
        int o = off;
        for (int t = 0; t < tokens; t++) {
            o = decodeRow(in, o, keys, (slot + t) * headDim);
        }
        for (int t = 0; t < tokens; t++) {
            o = decodeRow(in, o, values, (slot + t) * headDim);
        }
    }

    /** The scale that {@link #encode} stores for a row with this absolute maximum. */
    public static float scaleFor(float absMax) {
        return Fp16.toFloat(Fp16.ceil(absMax / 127f));
    }

    private int encodeRow(float[] x, int from, byte[] out, int off) {
        float absMax = 0f;
        for (int i = 0; i < headDim; i++) {
            absMax = Math.max(absMax, Math.abs(x[from + i]));
        }
        short scaleHalf = Fp16.ceil(absMax / 127f);
        float scale = Fp16.toFloat(scaleHalf);
        float inv = scale == 0f ? 0f : 1f / scale;
        LittleEndian.putShort(out, off, scaleHalf);
        int o = off + 2;
        for (int i = 0; i < headDim; i++) {
            int q = Math.round(x[from + i] * inv);
            out[o + i] = (byte) Math.max(-127, Math.min(127, q));
        }
        return o + headDim;
    }

    private int decodeRow(byte[] in, int off, float[] x, int from) {
        float scale = Fp16.toFloat(LittleEndian.getShort(in, off));
        int o = off + 2;
        for (int i = 0; i < headDim; i++) {
            x[from + i] = in[o + i] * scale;
        }
        return o + headDim;
    }
}
