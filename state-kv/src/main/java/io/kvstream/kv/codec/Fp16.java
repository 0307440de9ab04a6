package io.kvstream.kv.codec;

/**
 * IEEE 754 binary16 conversions (Java 17 has no {@code Float.floatToFloat16}). Decoding goes
 * through a 64K table so that it costs one load per element.
 */
public final class Fp16 {

    public static final float MAX = 65504f;

    private static final float[] TO_FLOAT = new float[1 << 16];

    static {
        for (int h = 0; h < TO_FLOAT.length; h++) {
            TO_FLOAT[h] = slowToFloat(h);
        }
    }

    private Fp16() {}

    public static float toFloat(short h) {
        return TO_FLOAT[h & 0xffff];
    }

    /** Rounds to the nearest binary16, ties to even; overflow gives infinity. */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int val = bits & 0x7fffffff;
        if (val >= 0x47800000) {
            if (val > 0x7f800000) {
                return (short) (sign | 0x7e00);
            }
            return (short) (sign | 0x7c00);
        }
        if (val >= 0x38800000) {
            int r = val - 0x38000000;
            r += 0x0fff + ((r >>> 13) & 1);
            return (short) (sign | (r >>> 13));
        }
        if (val < 0x33000000) {
            return (short) sign;
        }
        int exp = val >>> 23;
        int mant = (val & 0x7fffff) | 0x800000;
        int shift = 126 - exp;
        int m = mant >>> shift;
        int rem = mant & ((1 << shift) - 1);
        int halfway = 1 << (shift - 1);
        if (rem > halfway || (rem == halfway && (m & 1) != 0)) {
            m++;
        }
        return (short) (sign | m);
    }

    /** The largest binary16 not above {@code f} (finite inputs within range). */
    public static short floor(float f) {
        short h = fromFloat(f);
        return toFloat(h) > f ? down(h) : h;
    }

    /** The smallest binary16 not below {@code f} (finite inputs within range). */
    public static short ceil(float f) {
        short h = fromFloat(f);
        return toFloat(h) < f ? up(h) : h;
    }

    /** Rounds through binary16 and back. */
    public static float round(float f) {
        return toFloat(fromFloat(f));
    }

    private static short down(short h) {
        int v = h & 0xffff;
        if (v == 0) {
            return (short) 0x8001;
        }
        return (short) ((v & 0x8000) != 0 ? v + 1 : v - 1);
    }

    private static short up(short h) {
        int v = h & 0xffff;
        if (v == 0x8000) {
            return (short) 0x0001;
        }
        return (short) ((v & 0x8000) != 0 ? v - 1 : v + 1);
    }

    private static float slowToFloat(int h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0) {
            float f = mant * 0x1p-24f;
            return sign != 0 ? -f : f;
        }
        if (exp == 31) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }
}
