package io.kvstream.kv.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.ForwardSim;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.RopeSpec;
import io.kvstream.kv.state.SessionMeta;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

class BlockFormatTest {

    private static final RopeSpec ROPE = new RopeSpec(64, 10000f, true);

    private static CompressedKvCache cache() {
        return new CompressedKvCache(KvSpec.parse("kivi4"), 2, 4, 2, 64, 2048, ROPE);
    }

    private static CompressedKvCache fed() {
        CompressedKvCache c = cache();
        new ForwardSim(c, 4, ROPE, 9).step(150, null);
        return c;
    }

    @Test
    void everyFlippedByteIsDetected() {
        CompressedKvCache c = fed();
        byte[] good = c.block(1).bytes();
        for (int i = 0; i < good.length; i += 97) {
            byte[] bad = good.clone();
            bad[i] ^= 0x10;
            int at = i;
            assertThatThrownBy(() -> BlockFormat.read("sess-7", 1, bad, c.blockLayout()))
                    .as("flip at %d", at)
                    .isInstanceOf(CorruptBlockException.class)
                    .hasMessageContaining("sess-7")
                    .hasMessageContaining("block 1");
        }
        byte[] bad = good.clone();
        bad[good.length / 2] ^= 1;
        assertThatThrownBy(() -> BlockFormat.read("sess-7", 1, bad, c.blockLayout()))
                .isInstanceOf(CorruptBlockException.class)
                .hasMessageContaining("checksum mismatch")
                .satisfies(e -> {
                    assertThat(((CorruptBlockException) e).session()).isEqualTo("sess-7");
                    assertThat(((CorruptBlockException) e).block()).isEqualTo(1);
                });
    }

    @Test
    void unknownVersionIsReportedAsSuch() {
        CompressedKvCache c = fed();
        byte[] future = c.block(0).bytes().clone();
        future[4] = 3;
        assertThatThrownBy(() -> BlockFormat.read("sess-8", 0, future, c.blockLayout()))
                .isInstanceOf(CorruptBlockException.class)
                .hasMessageContaining("sess-8")
                .hasMessageContaining("block 0")
                .hasMessageContaining("unknown block format version 3");
    }

    @Test
    void tokenIdsRoundTripInVersionTwoAndVersionOneBlocksHaveNone() throws Exception {
        CompressedKvCache c = fed();
        ParsedBlock plain = BlockFormat.read("s", 1, c.block(1).bytes(), c.blockLayout());
        assertThat(plain.tokenIds()).isNull();
        int[] ids = new int[plain.appended()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i % 5 == 0 ? -1 : 1000 + i;
        }
        byte[][] payloads = new byte[plain.payloadLengths().length][];
        for (int h = 0; h < payloads.length; h++) {
            payloads[h] = java.util.Arrays.copyOfRange(
                    plain.bytes(), plain.payloadOffsets()[h], plain.payloadOffsets()[h] + plain.payloadLengths()[h]);
        }
        byte[] withIds = BlockFormat.write(c.blockLayout(), 1, plain.appended(), plain.ropePositions(), ids,
                plain.bitmaps(), payloads, plain.payloadLengths());
        assertThat(withIds[4]).isEqualTo((byte) BlockFormat.VERSION_TOKEN_IDS);
        assertThat(withIds.length).isEqualTo(c.block(1).bytes().length + 4 * ids.length);
        ParsedBlock read = BlockFormat.read("s", 1, withIds, c.blockLayout());
        assertThat(read.tokenIds()).containsExactly(ids);
        for (int h = 0; h < payloads.length; h++) {
            assertThat(java.util.Arrays.copyOfRange(read.bytes(), read.payloadOffsets()[h],
                    read.payloadOffsets()[h] + read.payloadLengths()[h])).containsExactly(payloads[h]);
        }
    }

    @Test
    void truncatedMisplacedOrForeignBlocksAreRejected() {
        CompressedKvCache c = fed();
        byte[] good = c.block(0).bytes();
        assertThatThrownBy(() -> BlockFormat.read("s", 0, java.util.Arrays.copyOf(good, 20), c.blockLayout()))
                .hasMessageContaining("truncated");
        assertThatThrownBy(() -> BlockFormat.read("s", 3, good, c.blockLayout()))
                .hasMessageContaining("header says block 0");
        CompressedKvCache other = new CompressedKvCache(KvSpec.parse("kivi2"), 2, 4, 2, 64, 2048, ROPE);
        assertThatThrownBy(() -> BlockFormat.read("s", 0, good, other.blockLayout()))
                .hasMessageContaining("expected");
    }

    @Test
    void restoreNamesTheCorruptBlockAndLeavesTheCacheEmpty() {
        CompressedKvCache c = fed();
        SessionMeta meta = c.sessionMeta("model", 150);
        List<EncodedBlock> blocks = new ArrayList<>(c.blocks());
        byte[] bad = blocks.get(2).bytes().clone();
        bad[bad.length - 9] ^= (byte) 0x80;
        blocks.set(2, new EncodedBlock(2, bad));
        CompressedKvCache restored = cache();
        assertThatThrownBy(() -> restored.restore("user-42", meta, blocks))
                .isInstanceOf(CorruptBlockException.class)
                .hasMessageContaining("user-42")
                .hasMessageContaining("block 2");
        assertThat(restored.tokens()).isZero();
        assertThat(restored.length(0, 0)).isZero();
        // A missing block does not add up to the metadata either.
        CompressedKvCache again = cache();
        assertThatThrownBy(() -> again.restore("user-42", meta, c.blocks().subList(0, 2)))
                .isInstanceOf(CorruptBlockException.class);
        // Nor does a session stored under another spec.
        CompressedKvCache int8 = new CompressedKvCache(KvSpec.parse("int8"), 2, 4, 2, 64, 2048, ROPE);
        assertThatThrownBy(() -> int8.restore("user-42", meta, c.blocks()))
                .isInstanceOf(CorruptBlockException.class)
                .hasMessageContaining("session metadata")
                .hasMessageContaining("kivi4");
    }
}
