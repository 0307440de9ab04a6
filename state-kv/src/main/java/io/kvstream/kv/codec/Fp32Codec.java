package io.kvstream.kv.codec;

/** Lossless fp32: the {@code full} baseline, when a full-precision cache must still be stored. */
public final class Fp32Codec extends PerTokenCodec {

    public Fp32Codec(int headDim) {
        super(headDim);
    }

    @Override
    public String name() {
        return "full";
    }

    @Override
    public int id() {
        return ID_FP32;
    }

    @Override
    public int bits() {
        return 32;
    }

    @Override
    public int encodedBytes(int tokens, int residual) {
        return 2 * tokens * headDim * Float.BYTES;
    }

    @Override
    public int encode(float[] keys, float[] values, int slot, int tokens, int residual, byte[] out, int off) {
        int n = tokens * headDim;
        int base = slot * headDim;
        int o = off;
        for (int i = 0; i < n; i++, o += 4) {
            LittleEndian.putFloat(out, o, keys[base + i]);
        }
        for (int i = 0; i < n; i++, o += 4) {
            LittleEndian.putFloat(out, o, values[base + i]);
        }
        return o - off;
    }

    @Override
    public void decode(byte[] in, int off, int tokens, int residual, float[] keys, float[] values, int slot) {
        int n = tokens * headDim;
        int base = slot * headDim;
        int o = off;
        for (int i = 0; i < n; i++, o += 4) {
            keys[base + i] = LittleEndian.getFloat(in, o);
        }
        for (int i = 0; i < n; i++, o += 4) {
            values[base + i] = LittleEndian.getFloat(in, o);
        }
    }
}
