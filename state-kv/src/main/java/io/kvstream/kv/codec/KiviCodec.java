package io.kvstream.kv.codec;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkNotNull;

import java.util.Locale;

/**
 * KIVI (Liu et al., 2024): keys quantized per channel over groups of {@code keyGroup} tokens,
 * values per token over groups of {@code valueGroup} channels, both asymmetric (fp16 scale and
 * zero per group) at 4 or 2 bits. Keys are grouped over tokens because their outliers sit in
 * fixed channels; values have no such structure and their error is averaged away by attention.
 *
 * <p>In an open block the trailing keys that do not yet fill a group stay fp16 (with their
 * values) until the group fills. Layout of a run of {@code n} tokens, {@code r} residual:
 * key groups over the first {@code n - r} tokens ({@code headDim} scales, {@code headDim}
 * zeros, packed codes token-major); then per quantized token its value scales and zeros
 * followed by its packed codes; then the residual keys and values in fp16.
 *
 * <p>The residual need not be fp16 ({@link Residual}): an 8-bit residual keeps the trailing keys
 * and values as int8 rows (fp16 scale and zero per row), half of fp16's bytes at an error two
 * orders of magnitude below the 2-bit grid they are quantized to when the group fills; a token
 * residual quantizes every value row and the residual keys per token at the codec's own bits.
 * Once a group fills its keys are quantized per channel from what the residual reproduced, so
 * the residual's error carries over: at 2 bits a token residual triples the keys' error
 * (docs/kv-compression.md), at 8 bits it leaves it as it was. Layouts: fp16 and int8 as above,
 * the residual rows keys first; token and keys8: key groups, a value row per token of the run,
 * then a key row per residual token (at the codec's bits, or int8).
 *
 * <p>Values may take other bits than keys ({@code valueBits}: 2, 3 or 4). The 2-bit loss is in
 * the values (docs/kv-compression.md), and each value row's error is its own, so a finer value
 * grid buys accuracy where a finer key grid does not.
 *
 * <p>A key group's per-channel scales and zeros cost as much as a quarter of its 2-bit codes in
 * fp16. With {@link KeyMeta#Q8} they are 8-bit codes on a grid each group and head sets with
 * three fp16 numbers (largest scale; smallest zero and the step between zeros), as llama.cpp's
 * K-quants store sub-block scales: 134 bytes a group of 64 channels instead of 256.
 *
 * <p>Zeros are rounded down and scales up, so every element lands inside the grid and the error
 * is at most half a step.
 */
public final class KiviCodec implements KvCodec {

    /** How the trailing keys of an open block that do not fill a key group are kept. */
    public enum Residual {
        /** fp16 keys and values, as in the KIVI paper. */
        FP16,
        /** Values and keys quantized per token at the codec's bits, like value rows. */
        TOKEN,
        /** Keys and values as int8 rows, one fp16 scale and zero per row. */
        INT8,
        /**
         * Keys as int8 rows; values quantized at once at the value bits. Values are quantized
         * per token, so a residual value row is final when written: int8 only postponed the
         * same rounding at four to eight times the bytes. Layout as {@link #TOKEN}'s.
         */
        KEYS8;

        /** The spec's name: {@code fp16}, {@code token}, {@code int8}. */
        public String specName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** How a key group's per-channel scales and zeros are stored. */
    public enum KeyMeta {
        /** An fp16 scale and zero per channel, as in the KIVI paper. */
        FP16,
        /** An 8-bit scale code and zero code per channel on a grid of three fp16 numbers. */
        Q8;

        /** The spec's name: {@code fp16}, {@code q8}. */
        public String specName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private static final int INT8_LEVELS = 255;
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

    private final int bits;
    private final int levels;
    private final int valueBits;
    private final KeyMeta keyMeta;
    private final int headDim;
    private final int keyGroup;
    private final int valueGroup;
    private final int valueGroups;
    private final int valueRowBytes;
    private final int int8RowBytes;
    private final Residual residualMode;
    private final float[] min;
    private final float[] max;
    private final float[] zero;
    private final float[] scale;
    private final float[] inv;
    private final byte[] codes;

    public KiviCodec(int bits, int headDim, int keyGroup, int valueGroup) {
        this(bits, headDim, keyGroup, valueGroup, Residual.FP16);
    }

    public KiviCodec(int bits, int headDim, int keyGroup, int valueGroup, Residual residual) {
        this(bits, headDim, keyGroup, valueGroup, residual, bits, KeyMeta.FP16);
    }

    /**
     * @param bits key bits (2 or 4), also those of a token residual's keys
     * @param valueBits value bits (2, 3 or 4)
     */
    public KiviCodec(
            int bits, int headDim, int keyGroup, int valueGroup, Residual residual, int valueBits, KeyMeta keyMeta) {
        checkArgument(bits == 2 || bits == 4, "KIVI takes 2 or 4 bits, not %s", bits);
        checkArgument(valueBits >= 2 && valueBits <= 4, "KIVI values take 2, 3 or 4 bits, not %s", valueBits);
        checkArgument(keyGroup > 0 && valueGroup > 0, "KIVI groups must be positive: %s, %s", keyGroup, valueGroup);
        checkArgument((headDim * bits) % 8 == 0, "head dim %s does not pack to whole bytes", headDim);
        this.bits = bits;
        this.levels = (1 << bits) - 1;
        this.valueBits = valueBits;
        this.keyMeta = checkNotNull(keyMeta);
        this.headDim = headDim;
        this.keyGroup = keyGroup;
        this.valueGroup = Math.min(valueGroup, headDim);
        this.valueGroups = (headDim + this.valueGroup - 1) / this.valueGroup;
        this.valueRowBytes = valueGroups * 4 + BitPacking.packedBytes(headDim, valueBits);
        this.int8RowBytes = 4 + headDim;
        this.residualMode = checkNotNull(residual);
        this.min = new float[headDim];
        this.max = new float[headDim];
        this.zero = new float[headDim];
        this.scale = new float[headDim];
        this.inv = new float[headDim];
        this.codes = new byte[Math.max(keyGroup, 1) * headDim];
    }

    @Override
    public String name() {
        return "kivi" + bits;
    }

    @Override
    public int id() {
        return ID_KIVI;
    }

    @Override
    public int bits() {
        return bits;
    }

    @Override
    public int keyGroup() {
        return keyGroup;
    }

    @Override
    public int valueGroup() {
        return valueGroup;
    }

    @Override
    public int headDim() {
        return headDim;
    }

    public Residual residualMode() {
        return residualMode;
    }

    public int valueBits() {
        return valueBits;
    }

    public KeyMeta keyMeta() {
        return keyMeta;
    }

    @Override
    public int residual(int tokens, boolean open) {
        return open ? tokens % keyGroup : 0;
    }

    @Override
    public int encodedBytes(int tokens, int residual) {
        int quantized = tokens - residual;
        int fullGroups = quantized / keyGroup;
        int tail = quantized % keyGroup;
        int keyBytes = fullGroups * keyGroupBytes(keyGroup) + (tail > 0 ? keyGroupBytes(tail) : 0);
        if (residualMode == Residual.TOKEN) {
            return keyBytes + tokens * valueRowBytes + residual * keyRowBytes();
        }
        if (residualMode == Residual.KEYS8) {
            return keyBytes + tokens * valueRowBytes + residual * int8RowBytes;
        }
        if (residualMode == Residual.INT8) {
            return keyBytes + quantized * valueRowBytes + residual * 2 * int8RowBytes;
        }
        return keyBytes + quantized * valueRowBytes + residual * headDim * 4;
    }

    private int keyGroupBytes(int groupTokens) {
        int meta = keyMeta == KeyMeta.Q8 ? Q8_REF_BYTES + 2 * headDim : 4 * headDim;
        return meta + BitPacking.packedBytes(groupTokens * headDim, bits);
    }

    /** A token residual's key row: value groups at the key bits. */
    private int keyRowBytes() {
        return valueGroups * 4 + BitPacking.packedBytes(headDim, bits);
    }

    @Override
    public int encode(float[] keys, float[] values, int slot, int tokens, int residual, byte[] out, int off) {
        int quantized = tokens - residual;
        int o = off;
        for (int g = 0; g < quantized; g += keyGroup) {
            o = encodeKeyGroup(keys, slot + g, Math.min(keyGroup, quantized - g), out, o);
        }
        if (residualMode == Residual.TOKEN || residualMode == Residual.KEYS8) {
            int keyBits = residualMode == Residual.TOKEN ? bits : 8;
            int keyRowGroup = residualMode == Residual.TOKEN ? valueGroup : headDim;
            for (int t = 0; t < tokens; t++) {
                o = encodeTokenRow(values, (slot + t) * headDim, out, o, valueBits, valueGroup);
            }
            for (int t = quantized; t < tokens; t++) {
                o = encodeTokenRow(keys, (slot + t) * headDim, out, o, keyBits, keyRowGroup);
            }
            return o - off;
        }
        for (int t = 0; t < quantized; t++) {
            o = encodeTokenRow(values, (slot + t) * headDim, out, o, valueBits, valueGroup);
        }
        if (residualMode == Residual.INT8) {
            for (int t = quantized; t < tokens; t++) {
                o = encodeTokenRow(keys, (slot + t) * headDim, out, o, 8, headDim);
            }
            for (int t = quantized; t < tokens; t++) {
                o = encodeTokenRow(values, (slot + t) * headDim, out, o, 8, headDim);
            }
            return o - off;
        }
        int from = (slot + quantized) * headDim;
        o = Fp16Codec.writeHalves(keys, from, residual * headDim, out, o);
        o = Fp16Codec.writeHalves(values, from, residual * headDim, out, o);
        return o - off;
    }

    @Override
    public void decode(byte[] in, int off, int tokens, int residual, float[] keys, float[] values, int slot) {
        int quantized = tokens - residual;
        int o = off;
        for (int g = 0; g < quantized; g += keyGroup) {
            o = decodeKeyGroup(in, o, keys, slot + g, Math.min(keyGroup, quantized - g));
        }
        if (residualMode == Residual.TOKEN || residualMode == Residual.KEYS8) {
            int keyBits = residualMode == Residual.TOKEN ? bits : 8;
            int keyRowGroup = residualMode == Residual.TOKEN ? valueGroup : headDim;
            for (int t = 0; t < tokens; t++) {
                o = decodeTokenRow(in, o, values, (slot + t) * headDim, valueBits, valueGroup);
            }
            for (int t = quantized; t < tokens; t++) {
                o = decodeTokenRow(in, o, keys, (slot + t) * headDim, keyBits, keyRowGroup);
            }
            return;
        }
        for (int t = 0; t < quantized; t++) {
            o = decodeTokenRow(in, o, values, (slot + t) * headDim, valueBits, valueGroup);
        }
        if (residualMode == Residual.INT8) {
            for (int t = quantized; t < tokens; t++) {
                o = decodeTokenRow(in, o, keys, (slot + t) * headDim, 8, headDim);
            }
            for (int t = quantized; t < tokens; t++) {
                o = decodeTokenRow(in, o, values, (slot + t) * headDim, 8, headDim);
            }
            return;
        }
        int from = (slot + quantized) * headDim;
        o = Fp16Codec.readHalves(in, o, residual * headDim, keys, from);
        Fp16Codec.readHalves(in, o, residual * headDim, values, from);
    }

    private int encodeKeyGroup(float[] keys, int slot, int n, byte[] out, int off) {
        int base = slot * headDim;
        rangeOf(keys, base, n);
        if (keyMeta == KeyMeta.FP16) {
            int o = writeFp16Grid(out, off);
            quantizeKeys(keys, base, n, codes);
            return o + BitPacking.pack(codes, n * headDim, bits, out, o);
        }
        int o = writeQ8Grid(out, off);
        quantizeKeys(keys, base, n, codes);
        return o + BitPacking.pack(codes, n * headDim, bits, out, o);
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

    private void quantizeKeys(float[] keys, int base, int n, byte[] into) {
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

    private int writeFp16Grid(byte[] out, int off) {
        int o = off;
        for (int c = 0; c < headDim; c++, o += 2) {
            short s = gridScale(c);
            LittleEndian.putShort(out, o, s);
        }
        for (int c = 0; c < headDim; c++, o += 2) {
            LittleEndian.putShort(out, o, Fp16.floor(min[c]));
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
    private int writeQ8Grid(byte[] out, int off) {
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

    private int readQ8Grid(byte[] in, int off) {
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

    /** Sets zero, scale and inverse of channel {@code c} from min/max; returns the fp16 scale. */
    private short gridScale(int c) {
        float z = Fp16.toFloat(Fp16.floor(min[c]));
        short s = Fp16.ceil((max[c] - z) / levels);
        float sf = Fp16.toFloat(s);
        zero[c] = z;
        scale[c] = sf;
        inv[c] = sf == 0f ? 0f : 1f / sf;
        return s;
    }

    private int decodeKeyGroup(byte[] in, int off, float[] keys, int slot, int n) {
        int d = headDim;
        int o = off;
        if (keyMeta == KeyMeta.Q8) {
            o = readQ8Grid(in, o);
        } else {
            for (int c = 0; c < d; c++, o += 2) {
                scale[c] = Fp16.toFloat(LittleEndian.getShort(in, o));
            }
            for (int c = 0; c < d; c++, o += 2) {
                zero[c] = Fp16.toFloat(LittleEndian.getShort(in, o));
            }
        }
        o += BitPacking.unpack(in, o, n * d, bits, codes);
        int base = slot * d;
        for (int t = 0; t < n; t++) {
            int row = base + t * d;
            int cr = t * d;
            for (int c = 0; c < d; c++) {
                keys[row + c] = zero[c] + codes[cr + c] * scale[c];
            }
        }
        return o;
    }

    /** One token's row in groups of {@code group} channels at {@code rowBits} bits. */
    private int encodeTokenRow(float[] values, int from, byte[] out, int off, int rowBits, int group) {
        int rowLevels = rowBits == 8 ? INT8_LEVELS : (1 << rowBits) - 1;
        int groups = (headDim + group - 1) / group;
        int o = off;
        for (int g = 0; g < groups; g++) {
            int lo = g * group;
            int hi = Math.min(headDim, lo + group);
            float mn = values[from + lo];
            float mx = mn;
            for (int c = lo + 1; c < hi; c++) {
                float x = values[from + c];
                mn = Math.min(mn, x);
                mx = Math.max(mx, x);
            }
            short zh = Fp16.floor(mn);
            float z = Fp16.toFloat(zh);
            short sh = Fp16.ceil((mx - z) / rowLevels);
            float s = Fp16.toFloat(sh);
            float iv = s == 0f ? 0f : 1f / s;
            LittleEndian.putShort(out, o, sh);
            LittleEndian.putShort(out, o + 2, zh);
            o += 4;
            for (int c = lo; c < hi; c++) {
                int q = Math.round((values[from + c] - z) * iv);
                codes[c] = (byte) Math.max(0, Math.min(rowLevels, q));
            }
        }
        return o + BitPacking.pack(codes, headDim, rowBits, out, o);
    }

    private int decodeTokenRow(byte[] in, int off, float[] values, int from, int rowBits, int group) {
        int groups = (headDim + group - 1) / group;
        int o = off;
        for (int g = 0; g < groups; g++, o += 4) {
            scale[g] = Fp16.toFloat(LittleEndian.getShort(in, o));
            zero[g] = Fp16.toFloat(LittleEndian.getShort(in, o + 2));
        }
        o += BitPacking.unpack(in, o, headDim, rowBits, codes);
        for (int g = 0; g < groups; g++) {
            int lo = g * group;
            int hi = Math.min(headDim, lo + group);
            float s = scale[g];
            float z = zero[g];
            for (int c = lo; c < hi; c++) {
                // int8 codes are unsigned: 0..255
                values[from + c] = z + (codes[c] & 0xff) * s;
            }
        }
        return o;
    }
}
