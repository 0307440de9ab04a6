package io.kvstream.tokenizer;

import java.util.Arrays;

/**
 * GPT-2's reversible map from bytes to printable characters, in which byte-level BPE vocabularies
 * store their tokens: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 and
 * up in byte order (so a space is {@code Ġ}, a newline {@code Ċ}).
 */
final class ByteLevel {

    private static final char[] BYTE_TO_CHAR = new char[256];
    /** Indexed by char; -1 where the char stands for no byte. */
    private static final short[] CHAR_TO_BYTE = new short[512];

    static {
        Arrays.fill(CHAR_TO_BYTE, (short) -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable =
                    (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) next++;
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = (short) b;
        }
    }

    private ByteLevel() {}

    static char byteToChar(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The byte a character stands for, or -1. */
    static int charToByte(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }
}
