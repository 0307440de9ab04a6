package io.kvstream.kv.codec;

/** Keys and values rounded to fp16: half of fp32, near-lossless for attention. */
public final class Fp16Codec extends PerTokenCodec {

    public Fp16Codec(int headDim) {
        super(headDim);
    }

    @Override
    public String name() {
        return "fp16";
    }

    @Override
    public int id() {
        return ID_FP16;
    }

    @Override
    public int bits() {
        return 16;
    }

    @Override
    public int encodedBytes(int tokens, int residual) {
        return 2 * tokens * headDim * 2;
    }

    @Override
    public int encode(float[] keys, float[] values, int slot, int tokens, int residual, byte[] out, int off) {
        int n = tokens * headDim;
        int o = writeHalves(keys, slot * headDim, n, out, off);
        o = writeHalves(values, slot * headDim, n, out, o);
        return o - off;
    }

    @Override
    public void decode(byte[] in, int off, int tokens, int residual, float[] keys, float[] values, int slot) {
        int n = tokens * headDim;
        int o = readHalves(in, off, n, keys, slot * headDim);
        readHalves(in, o, n, values, slot * headDim);
    }

    static int writeHalves(float[] src, int from, int n, byte[] out, int off) {
        int o = off;
        for (int i = 0; i < n; i++, o += 2) {
            LittleEndian.putShort(out, o, Fp16.fromFloat(src[from + i]));
        }
        return o;
    }

    static int readHalves(byte[] in, int off, int n, float[] dst, int from) {
        int o = off;
        for (int i = 0; i < n; i++, o += 2) {
            dst[from + i] = Fp16.toFloat(LittleEndian.getShort(in, o));
        }
        return o;
    }
}
