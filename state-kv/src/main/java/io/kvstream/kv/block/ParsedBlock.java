package io.kvstream.kv.block;

import javax.annotation.Nullable;

/**
 * A block whose header and checksum have been verified; payloads are still encoded and point
 * into {@link #bytes()}.
 *
 * @param appended how many of the block's token indices the session had fed when it was written
 * @param ropePositions per appended token, the position it was rotated to; null when every token
 *     sits at its own index
 * @param tokenIds per appended token, its id (-1 where it carried an embedding); null when the
 *     writer kept no ids
 * @param bitmaps per (layer, kv head), bit {@code j}: token {@code index * blockTokens + j} held
 */
public record ParsedBlock(
        int index, int appended, @Nullable int[] ropePositions, @Nullable int[] tokenIds,
        byte[][] bitmaps, int[] payloadOffsets, int[] payloadLengths, byte[] bytes) {

    public boolean holds(int head, int offset) {
        return (bitmaps[head][offset >>> 3] & (1 << (offset & 7))) != 0;
    }
}
