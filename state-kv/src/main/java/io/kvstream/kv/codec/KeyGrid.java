package io.kvstream.kv.codec;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkNotNull;

import io.kvstream.kv.codec.KiviCodec.KeyMeta;

/**
 * The per-channel zeros and scales of a KIVI key group, written before its codes and read back
 * before they are decoded, in either {@link KeyMeta} layout: an fp16 scale and zero per channel,
 * or ({@link KeyMeta#Q8}) 8-bit codes on a grid each group and head sets with three fp16 numbers
 * (largest scale; smallest zero and the step between zeros), as llama.cpp's K-quants store
 * sub-block scales. A key group's fp16 scales and zeros cost as much as a quarter of its 2-bit
 * codes; the 8-bit ones take 134 bytes a group of 64 channels instead of 256.
 *
 * <p>One instance serves one codec: its ranges and grid are scratch, overwritten by each group,
 * so that encoding and decoding allocate nothing.
 */
final class KeyGrid {

    private static final int Q8_LEVELS = 255;
    /** A Q8 key group's references: largest scale, lowest zero, zero step. */
    private static final int Q8_REF_BYTES = 6;
    /**
     * Slack in the Q8 grid's roundings, so that what a grid reproduces rounds back to the same
     * codes and references despite float error: in steps for codes, relative for references.
     */
    private static final float Q8_CODE_SLACK = 1e-3f;
    private static final float Q8_REF_SLACK = 1f - 0x1p-12f;
    /** A Q8 scale spans at least this many zero steps, so a channel's minimum decodes to its zero. */
    private static final float Q8_ZERO_STEPS_PER_SCALE = 2.25f;

    private final KeyMeta meta;
    private final int headDim;
    /** The top code of the keys (3 or 15), not of the Q8 grid. */
    private final int levels;
    private final float[] min;
    private final float[] max;
    private final float[] zero;
    private final float[] scale;
    private final float[] inv;

    KeyGrid(KeyMeta meta, int headDim, int levels) {
        checkArgument(headDim > 0, "head dim must be positive: %s", headDim);
        // a Q8 scale takes at least 2 * levels codes (see writeQ8), which must fit the grid
        checkArgument(levels > 0 && 2 * levels <= Q8_LEVELS, "key levels out of range: %s", levels);
        this.meta = checkNotNull(meta);
        this.headDim = headDim;
        this.levels = levels;
        this.min = new float[headDim];
        this.max = new float[headDim];
        this.zero = new float[headDim];
        this.scale = new float[headDim];
        this.inv = new float[headDim];
    }

    KeyMeta meta() {
        return meta;
    }

    /** Bytes of one group's grid, before its codes. */
    int bytes() {
        return meta == KeyMeta.Q8 ? Q8_REF_BYTES + 2 * headDim : 4 * headDim;
    }

    /**
     * Sets the grid from the range of the {@code n} token rows of {@code keys} at {@code base} and
     * writes it at {@code off}; returns the offset after it.
     */
    int write(float[] keys, int base, int n, byte[] out, int off) {
        rangeOf(keys, base, n);
        return meta == KeyMeta.Q8 ? writeQ8(out, off) : writeFp16(out, off);
    }

    /** Codes of the {@code n} token rows at {@code base} on the grid last written, token-major. */
    void quantize(float[] keys, int base, int n, byte[] into) {
        int d = headDim;
        for (int t = 0; t < n; t++) {
            int row = base + t * d;
            int cr = t * d;
            for (int c = 0; c < d; c++) {
                int q = Math.round((keys[row + c] - zero[c]) * inv[c]);
                into[cr + c] = (byte) Math.max(0, Math.min(levels, q));
            }
        }
    }

    /** Sets the grid from the one written at {@code off}; returns the offset after it. */
    int read(byte[] in, int off) {
        return meta == KeyMeta.Q8 ? readQ8(in, off) : readFp16(in, off);
    }

    /** Writes the {@code n} token rows that {@code codes} give on the grid last read. */
    void dequantize(byte[] codes, int n, float[] keys, int base) {
        int d = headDim;
        for (int t = 0; t < n; t++) {
            int row = base + t * d;
            int cr = t * d;
            for (int c = 0; c < d; c++) {
                keys[row + c] = zero[c] + codes[cr + c] * scale[c];
            }
        }
    }

    private void rangeOf(float[] keys, int base, int n) {
        int d = headDim;
        System.arraycopy(keys, base, min, 0, d);
        System.arraycopy(keys, base, max, 0, d);
        for (int t = 1; t < n; t++) {
            int row = base + t * d;
            for (int c = 0; c < d; c++) {
                float x = keys[row + c];
                min[c] = Math.min(min[c], x);
                max[c] = Math.max(max[c], x);
            }
        }
    }

    private int writeFp16(byte[] out, int off) {
        int o = off;
        for (int c = 0; c < headDim; c++, o += 2) {
            LittleEndian.putShort(out, o, fp16Scale(c));
        }
        for (int c = 0; c < headDim; c++, o += 2) {
            LittleEndian.putShort(out, o, Fp16.floor(min[c]));
        }
        return o;
    }

    /** Sets zero, scale and inverse of channel {@code c} from min/max; returns the fp16 scale. */
    private short fp16Scale(int c) {
        float z = Fp16.toFloat(Fp16.floor(min[c]));
        short s = Fp16.ceil((max[c] - z) / levels);
        float sf = Fp16.toFloat(s);
        zero[c] = z;
        scale[c] = sf;
        inv[c] = sf == 0f ? 0f : 1f / sf;
        return s;
    }

    private int readFp16(byte[] in, int off) {
        int o = off;
        for (int c = 0; c < headDim; c++, o += 2) {
            scale[c] = Fp16.toFloat(LittleEndian.getShort(in, o));
        }
        for (int c = 0; c < headDim; c++, o += 2) {
            zero[c] = Fp16.toFloat(LittleEndian.getShort(in, o));
        }
        return o;
    }

    /**
     * The cache re-encodes an open block from what it decoded at every step, so what a grid
     * reproduces must encode to the same grid, or keys would drift a step further each time. An
     * fp16 grid is such a fixed point: each channel's minimum and maximum decode to its zero and
     * top. This one is built to be one as well:
     *
     * <ul>
     *   <li>zeros: {@code zRef + code * zStep}, rounded down from each channel's minimum; the
     *       lowest channel takes code 0 and the highest 255, so that the zeros alone give back
     *       {@code zRef} and {@code zStep};
     *   <li>scales: {@code code * sRef / 255}, rounded up from what covers each channel's maximum,
     *       the largest taking 255; at least {@link #Q8_ZERO_STEPS_PER_SCALE} zero steps and
     *       {@code 2 * levels} codes, so that every channel's minimum rounds to code 0 and, unless
     *       the scale was raised to that floor, its maximum to the top code.
     * </ul>
     *
     * A channel's minimum then decodes to its zero and its maximum to its top, which round back
     * to the same codes (with {@link #Q8_CODE_SLACK} for float error), and the references are
     * rounded with {@link #Q8_REF_SLACK} so that a reproduced extreme gives them back. The cost:
     * a zero up to a zero step below the minimum, a scale up to a scale code above the need, and
     * the lowest and highest channels' rounding forced (by at most 2^-12 of the range).
     * Sets zero, scale and inverse of every channel.
     */
    private int writeQ8(byte[] out, int off) {
        int d = headDim;
        int lowest = 0;
        int highest = 0;
        for (int c = 1; c < d; c++) {
            lowest = min[c] < min[lowest] ? c : lowest;
            highest = min[c] > min[highest] ? c : highest;
        }
        short zRefH = Fp16.floor(min[lowest]);
        float zRef = Fp16.toFloat(zRefH);
        short zStepH = min[highest] == min[lowest] ? 0 : Fp16.ceil((min[highest] - zRef) / Q8_LEVELS * Q8_REF_SLACK);
        float zStep = Fp16.toFloat(zStepH);
        float zInv = zStep == 0f ? 0f : 1f / zStep;
        int o = off + Q8_REF_BYTES;
        float floor = zStep * Q8_ZERO_STEPS_PER_SCALE;
        int widest = 0;
        for (int c = 0; c < d; c++) {
            int q = c == highest && zStep != 0f ? Q8_LEVELS
                    : c == lowest ? 0
                    : Math.max(0, Math.min(Q8_LEVELS, (int) Math.floor((min[c] - zRef) * zInv + Q8_CODE_SLACK)));
            out[o + d + c] = (byte) q;
            zero[c] = zRef + q * zStep;
            scale[c] = Math.max((max[c] - zero[c]) / levels, floor);
            widest = scale[c] > scale[widest] ? c : widest;
        }
        short sRefH = Fp16.ceil(scale[widest] * Q8_REF_SLACK);
        float unit = Fp16.toFloat(sRefH) / Q8_LEVELS;
        float unitInv = unit == 0f ? 0f : 1f / unit;
        int fewest = 2 * levels;
        for (int c = 0; c < d; c++) {
            int q = c == widest ? Q8_LEVELS
                    : Math.max(fewest, Math.min(Q8_LEVELS, (int) Math.ceil(scale[c] * unitInv - Q8_CODE_SLACK)));
            q = unit == 0f ? 0 : q;
            out[o + c] = (byte) q;
            float sf = q * unit;
            scale[c] = sf;
            inv[c] = sf == 0f ? 0f : 1f / sf;
        }
        LittleEndian.putShort(out, off, sRefH);
        LittleEndian.putShort(out, off + 2, zRefH);
        LittleEndian.putShort(out, off + 4, zStepH);
        return o + 2 * d;
    }

    private int readQ8(byte[] in, int off) {
        int d = headDim;
        float unit = Fp16.toFloat(LittleEndian.getShort(in, off)) / Q8_LEVELS;
        float zRef = Fp16.toFloat(LittleEndian.getShort(in, off + 2));
        float zStep = Fp16.toFloat(LittleEndian.getShort(in, off + 4));
        int o = off + Q8_REF_BYTES;
        for (int c = 0; c < d; c++) {
            scale[c] = (in[o + c] & 0xff) * unit;
            zero[c] = zRef + (in[o + d + c] & 0xff) * zStep;
        }
        return o + 2 * d;
    }
}
