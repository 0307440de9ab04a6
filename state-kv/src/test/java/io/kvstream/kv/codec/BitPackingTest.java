package io.kvstream.kv.codec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

class BitPackingTest {

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 8})
    void packsDenselyAndRoundTripsEveryCount(int bits) {
        Random r = new Random(bits);
        for (int count = 0; count <= 67; count++) {
            byte[] codes = new byte[count];
            for (int i = 0; i < count; i++) {
                codes[i] = (byte) r.nextInt(1 << bits);
            }
            byte[] out = new byte[count + 4];
            Arrays.fill(out, (byte) 0x5a);
            int written = BitPacking.pack(codes, count, bits, out, 2);
            assertThat(written).isEqualTo((count * bits + 7) / 8).isEqualTo(BitPacking.packedBytes(count, bits));
            // Neighbours untouched, and a partial last byte is zero-padded.
            assertThat(out[0]).isEqualTo((byte) 0x5a);
            assertThat(out[2 + written]).isEqualTo((byte) 0x5a);
            int usedBits = (count * bits) % 8;
            if (usedBits != 0) {
                assertThat((out[1 + written] & 0xff) >>> usedBits).isZero();
            }
            byte[] back = new byte[count];
            assertThat(BitPacking.unpack(out, 2, count, bits, back)).isEqualTo(written);
            assertThat(back).isEqualTo(codes);
        }
    }

    @Test
    void lowestBitsComeFirst() {
        byte[] out = new byte[1];
        BitPacking.pack(new byte[] {1, 2, 3, 0}, 4, 2, out, 0);
        assertThat(out[0] & 0xff).isEqualTo(0b00_11_10_01);
        BitPacking.pack(new byte[] {0xa, 0x5}, 2, 4, out, 0);
        assertThat(out[0] & 0xff).isEqualTo(0x5a);
        // 3-bit codes straddle bytes: code 2 takes bits 6..8.
        byte[] three = new byte[3];
        BitPacking.pack(new byte[] {1, 2, 7, 0, 0, 0, 0, 5}, 8, 3, three, 0);
        assertThat((three[0] & 0xff) | (three[1] & 0xff) << 8 | (three[2] & 0xff) << 16)
                .isEqualTo(1 | 2 << 3 | 7 << 6 | 5 << 21);
    }

    @Test
    void rejectsWidthsItCannotPack() {
        assertThatThrownBy(() -> BitPacking.checkBits(5)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> BitPacking.checkBits(6)).isInstanceOf(IllegalArgumentException.class);
    }
}
