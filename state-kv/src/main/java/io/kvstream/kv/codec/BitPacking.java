package io.kvstream.kv.codec;

import static org.apache.flink.util.Preconditions.checkArgument;

/**
 * Dense packing of small unsigned codes, lowest bits first: code {@code i} of width {@code b}
 * sits at bit {@code i * b} of the output. Widths that divide 8 never straddle a byte; 3-bit
 * codes go eight to three bytes (KIVI's 3-bit values), the last of them straddling. A partial
 * last byte is zero-padded.
 */
public final class BitPacking {

    private BitPacking() {}

    public static int packedBytes(int count, int bits) {
        return (count * bits + 7) >>> 3;
    }

    public static void checkBits(int bits) {
        checkArgument(bits == 1 || bits == 2 || bits == 3 || bits == 4 || bits == 8, "unsupported code width %s", bits);
    }

    /** Packs {@code count} codes from {@code codes[0..)}; returns the bytes written. */
    public static int pack(byte[] codes, int count, int bits, byte[] out, int off) {
        if (bits == 8) {
            System.arraycopy(codes, 0, out, off, count);
            return count;
        }
        if (bits == 3) {
            return pack3(codes, count, out, off);
        }
        int perByte = 8 / bits;
        int full = count / perByte;
        int c = 0;
        int o = off;
        if (bits == 4) {
            for (int i = 0; i < full; i++, c += 2) {
                out[o++] = (byte) ((codes[c] & 0xf) | (codes[c + 1] << 4));
            }
        } else if (bits == 2) {
            for (int i = 0; i < full; i++, c += 4) {
                out[o++] = (byte) ((codes[c] & 3) | ((codes[c + 1] & 3) << 2)
                        | ((codes[c + 2] & 3) << 4) | (codes[c + 3] << 6));
            }
        } else {
            int mask = (1 << bits) - 1;
            for (int i = 0; i < full; i++) {
                int acc = 0;
                for (int k = 0; k < perByte; k++, c++) {
                    acc |= (codes[c] & mask) << (k * bits);
                }
                out[o++] = (byte) acc;
            }
        }
        if (c < count) {
            int mask = (1 << bits) - 1;
            int acc = 0;
            for (int k = 0; c < count; k++, c++) {
                acc |= (codes[c] & mask) << (k * bits);
            }
            out[o++] = (byte) acc;
        }
        return o - off;
    }

    /** Unpacks {@code count} codes into {@code codes[0..)}; returns the bytes read. */
    public static int unpack(byte[] in, int off, int count, int bits, byte[] codes) {
        if (bits == 8) {
            System.arraycopy(in, off, codes, 0, count);
            return count;
        }
        if (bits == 3) {
            return unpack3(in, off, count, codes);
        }
        int perByte = 8 / bits;
        int mask = (1 << bits) - 1;
        int full = count / perByte;
        int c = 0;
        int o = off;
        if (bits == 4) {
            for (int i = 0; i < full; i++, c += 2) {
                int b = in[o++];
                codes[c] = (byte) (b & 0xf);
                codes[c + 1] = (byte) ((b >>> 4) & 0xf);
            }
        } else if (bits == 2) {
            for (int i = 0; i < full; i++, c += 4) {
                int b = in[o++];
                codes[c] = (byte) (b & 3);
                codes[c + 1] = (byte) ((b >>> 2) & 3);
                codes[c + 2] = (byte) ((b >>> 4) & 3);
                codes[c + 3] = (byte) ((b >>> 6) & 3);
            }
        } else {
            for (int i = 0; i < full; i++) {
                int b = in[o++];
                for (int k = 0; k < perByte; k++, c++) {
                    codes[c] = (byte) ((b >>> (k * bits)) & mask);
                }
            }
        }
        if (c < count) {
            int b = in[o++];
            for (int k = 0; c < count; k++, c++) {
                codes[c] = (byte) ((b >>> (k * bits)) & mask);
            }
        }
        return o - off;
    }

    /** Eight 3-bit codes per 24-bit word, then the rest through a bit accumulator. */
    private static int pack3(byte[] codes, int count, byte[] out, int off) {
        int o = off;
        int c = 0;
        for (int full = count & ~7; c < full; c += 8) {
            int w = (codes[c] & 7) | (codes[c + 1] & 7) << 3 | (codes[c + 2] & 7) << 6 | (codes[c + 3] & 7) << 9
                    | (codes[c + 4] & 7) << 12 | (codes[c + 5] & 7) << 15 | (codes[c + 6] & 7) << 18
                    | (codes[c + 7] & 7) << 21;
            out[o++] = (byte) w;
            out[o++] = (byte) (w >>> 8);
            out[o++] = (byte) (w >>> 16);
        }
        int acc = 0;
        int have = 0;
        for (; c < count; c++) {
            acc |= (codes[c] & 7) << have;
            have += 3;
            if (have >= 8) {
                out[o++] = (byte) acc;
                acc >>>= 8;
                have -= 8;
            }
        }
        if (have > 0) {
            out[o++] = (byte) acc;
        }
        return o - off;
    }

    private static int unpack3(byte[] in, int off, int count, byte[] codes) {
        int o = off;
        int c = 0;
        for (int full = count & ~7; c < full; c += 8) {
            int w = (in[o] & 0xff) | (in[o + 1] & 0xff) << 8 | (in[o + 2] & 0xff) << 16;
            o += 3;
            for (int k = 0; k < 8; k++) {
                codes[c + k] = (byte) ((w >>> (3 * k)) & 7);
            }
        }
        int acc = 0;
        int have = 0;
        for (; c < count; c++) {
            if (have < 3) {
                acc |= (in[o++] & 0xff) << have;
                have += 8;
            }
            codes[c] = (byte) (acc & 7);
            acc >>>= 3;
            have -= 3;
        }
        return o - off;
    }
}
