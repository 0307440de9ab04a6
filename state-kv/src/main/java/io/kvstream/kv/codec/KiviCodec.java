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
 * <p>A key group's per-channel scales and zeros are fp16, or with {@link KeyMeta#Q8} 8-bit codes
 * on a grid of three fp16 numbers, at about half the bytes; {@code KeyGrid} writes and reads both.
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

    private final int bits;
    private final int valueBits;
    private final KeyGrid keyGrid;
    private final int headDim;
    private final int keyGroup;
    private final int valueGroup;
    private final int valueGroups;
    private final int valueRowBytes;
    private final int int8RowBytes;
    private final Residual residualMode;
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
        this.valueBits = valueBits;
        this.keyGrid = new KeyGrid(keyMeta, headDim, (1 << bits) - 1);
        this.headDim = headDim;
        this.keyGroup = keyGroup;
        this.valueGroup = Math.min(valueGroup, headDim);
        this.valueGroups = (headDim + this.valueGroup - 1) / this.valueGroup;
        this.valueRowBytes = valueGroups * 4 + BitPacking.packedBytes(headDim, valueBits);
        this.int8RowBytes = 4 + headDim;
        this.residualMode = checkNotNull(residual);
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
        return keyGrid.meta();
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
        return keyGrid.bytes() + BitPacking.packedBytes(groupTokens * headDim, bits);
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
        int o = keyGrid.write(keys, base, n, out, off);
        keyGrid.quantize(keys, base, n, codes);
        return o + BitPacking.pack(codes, n * headDim, bits, out, o);
    }

    private int decodeKeyGroup(byte[] in, int off, float[] keys, int slot, int n) {
        int o = keyGrid.read(in, off);
        o += BitPacking.unpack(in, o, n * headDim, bits, codes);
        keyGrid.dequantize(codes, n, keys, slot * headDim);
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
        // scales and zeros are read where they lie, before the codes, so a row needs no scratch
        int o = off + groups * 4;
        o += BitPacking.unpack(in, o, headDim, rowBits, codes);
        for (int g = 0; g < groups; g++) {
            int lo = g * group;
            int hi = Math.min(headDim, lo + group);
            float s = Fp16.toFloat(LittleEndian.getShort(in, off + g * 4));
            float z = Fp16.toFloat(LittleEndian.getShort(in, off + g * 4 + 2));
            for (int c = lo; c < hi; c++) {
                // int8 codes are unsigned: 0..255
                values[from + c] = z + (codes[c] & 0xff) * s;
            }
        }
        return o;
    }
}
