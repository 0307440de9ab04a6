package io.kvstream.model.tensor;

/**
 * IEEE 754 binary16 and bfloat16 conversions. Java 17 has no {@code Float.float16ToFloat}, so
 * half floats are widened through a table of all 65536 values, which is exact and as fast as a
 * scalar load.
 */
public final class Float16 {

    private static final float[] TO_FLOAT = new float[1 << 16];

    static {
        for (int i = 0; i < TO_FLOAT.length; i++) {
            TO_FLOAT[i] = compute(i);
        }
    }

    private Float16() {}

    /** The float value of the half float with bits {@code h} (low 16 bits used). */
    public static float toFloat(short h) {
        return TO_FLOAT[h & 0xFFFF];
    }

    /** Same as {@link #toFloat(short)}, for bits already widened to an unsigned int. */
    public static float toFloat(int h) {
        return TO_FLOAT[h & 0xFFFF];
    }

    /** bfloat16 is the upper half of a float32, so widening is a shift. */
    public static float bf16ToFloat(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }

    private static float compute(int h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1F;
        int mant = h & 0x3FF;
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F80_0000 | (mant << 13));
        }
        if (exp == 0) {
            // Subnormal (or zero): mant * 2^-24 is exact in float32.
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /**
     * Rounds a float to the nearest half float (ties to even), as {@code Float.floatToFloat16}
     * of Java 20 and C's {@code (_Float16)} cast do; overflow gives infinity.
     */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        short sign = (short) ((bits & 0x8000_0000) >>> 16);
        if (Float.isNaN(f)) {
            return (short) (sign | 0x7C00 | 0x200 | ((bits >>> 13) & 0x3FF));
        }
        float abs = Math.abs(f);
        // binary16 MAX_VALUE + half an ulp: everything from here up rounds to infinity.
        if (abs >= 0x1.ffcp15f + 0x0.002p15f) {
            return (short) (sign | 0x7C00);
        }
        // Half of the smallest subnormal and less rounds to zero.
        if (abs <= 0x1.0p-25f) {
            return sign;
        }
        int exp = Math.getExponent(f);
        int expDelta = 0;
        int msb = 0;
        if (exp < -14) {
            expDelta = -14 - exp;
            exp = -15;
            msb = 0x0080_0000;
        }
        int signif = (bits & 0x007F_FFFF) | msb;
        int truncated = signif >> (13 + expDelta);
        int lsb = signif & (1 << (13 + expDelta));
        int round = signif & (1 << (12 + expDelta));
        int sticky = signif & ((1 << (12 + expDelta)) - 1);
        if (round != 0 && (lsb | sticky) != 0) {
            truncated++;
        }
        // A carry out of the significand correctly bumps the exponent.
        return (short) (sign | (((exp + 15) << 10) + truncated));
    }

    /** Rounds a float to bfloat16, nearest with ties to even, as PyTorch and ggml do. */
    public static short bf16FromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }
}
