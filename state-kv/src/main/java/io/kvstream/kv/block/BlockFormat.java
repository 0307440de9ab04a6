package io.kvstream.kv.block;

import io.kvstream.kv.codec.LittleEndian;

import javax.annotation.Nullable;

import java.util.zip.CRC32C;

/**
 * The stored form of a block: {@code blockTokens} consecutive token indices of a session, across
 * all layers and kv heads. Little-endian:
 *
 * <pre>
 *  0 int    magic 'KVBK'
 *  4 byte   format version (1; 2 when token ids are stored)
 *  5 byte   flags: 1 = explicit RoPE positions, 2 = token ids (version 2 only)
 *  6 byte   codec id        7 byte bits
 *  8 short  key group      10 short value group
 * 12 short  layers         14 short kv heads       16 short head dim
 * 18 short  block tokens   20 short appended       22 short reserved
 * 24 int    block index
 * 28 [int × appended]      RoPE positions, if flagged
 *    [int × appended]      token ids (-1 where a position carried an embedding), if flagged
 *    per (layer, kv head): bitmap of held tokens (ceil(blockTokens / 8) bytes),
 *                          int payload length, payload (the codec's run of held tokens)
 *    int    CRC32C of everything before it
 * </pre>
 *
 * The version is checked before the checksum so that a block from a newer writer is reported as
 * such rather than as corrupt. Blocks without token ids stay version 1, byte for byte what they
 * were before ids existed; only caches whose memory matches tokens store them.
 */
public final class BlockFormat {

    public static final int MAGIC = 0x4B42564B;
    public static final int VERSION = 1;
    /** The version of blocks that store token ids. */
    public static final int VERSION_TOKEN_IDS = 2;
    public static final int HEADER_BYTES = 28;
    private static final int FLAG_POSITIONS = 1;
    private static final int FLAG_TOKEN_IDS = 2;

    private BlockFormat() {}

    public static int size(BlockLayout layout, int appended, boolean positions, boolean tokenIds, int[] payloadLengths) {
        int size = HEADER_BYTES + (positions ? 4 * appended : 0) + (tokenIds ? 4 * appended : 0);
        for (int h = 0; h < layout.heads(); h++) {
            size += layout.bitmapBytes() + 4 + payloadLengths[h];
        }
        return size + 4;
    }

    /**
     * @param ropePositions per appended token, its RoPE position; null when each sits at its index
     * @param tokenIds per appended token, its id; null when the cache does not keep ids
     */
    public static byte[] write(
            BlockLayout layout, int index, int appended, @Nullable int[] ropePositions, @Nullable int[] tokenIds,
            byte[][] bitmaps, byte[][] payloads, int[] payloadLengths) {
        byte[] out = new byte[size(layout, appended, ropePositions != null, tokenIds != null, payloadLengths)];
        LittleEndian.putInt(out, 0, MAGIC);
        out[4] = (byte) (tokenIds != null ? VERSION_TOKEN_IDS : VERSION);
        out[5] = (byte) ((ropePositions != null ? FLAG_POSITIONS : 0) | (tokenIds != null ? FLAG_TOKEN_IDS : 0));
        out[6] = (byte) layout.codecId();
        out[7] = (byte) layout.bits();
        LittleEndian.putShort(out, 8, (short) layout.keyGroup());
        LittleEndian.putShort(out, 10, (short) layout.valueGroup());
        LittleEndian.putShort(out, 12, (short) layout.layers());
        LittleEndian.putShort(out, 14, (short) layout.kvHeads());
        LittleEndian.putShort(out, 16, (short) layout.headDim());
        LittleEndian.putShort(out, 18, (short) layout.blockTokens());
        LittleEndian.putShort(out, 20, (short) appended);
        LittleEndian.putInt(out, 24, index);
        int o = HEADER_BYTES;
        o = putInts(out, o, ropePositions, appended);
        o = putInts(out, o, tokenIds, appended);
        int bitmapBytes = layout.bitmapBytes();
        for (int h = 0; h < layout.heads(); h++) {
            System.arraycopy(bitmaps[h], 0, out, o, bitmapBytes);
            o += bitmapBytes;
            LittleEndian.putInt(out, o, payloadLengths[h]);
            o += 4;
            System.arraycopy(payloads[h], 0, out, o, payloadLengths[h]);
            o += payloadLengths[h];
        }
        CRC32C crc = new CRC32C();
        crc.update(out, 0, o);
        LittleEndian.putInt(out, o, (int) crc.getValue());
        return out;
    }

    /**
     * Verifies and parses a block.
     *
     * @param session named in errors
     * @param index the index the block was stored under; must match its header
     * @param layout what the reading cache expects
     */
    public static ParsedBlock read(String session, int index, byte[] bytes, BlockLayout layout)
            throws CorruptBlockException {
        if (bytes.length < HEADER_BYTES + 4) {
            throw new CorruptBlockException(session, index, "truncated: " + bytes.length + " bytes");
        }
        if (LittleEndian.getInt(bytes, 0) != MAGIC) {
            throw new CorruptBlockException(session, index, "not a KV block (bad magic)");
        }
        int version = bytes[4] & 0xff;
        if (version != VERSION && version != VERSION_TOKEN_IDS) {
            throw new CorruptBlockException(session, index, "unknown block format version " + version
                    + " (this reader knows " + VERSION + " and " + VERSION_TOKEN_IDS + ")");
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        int stored = LittleEndian.getInt(bytes, bytes.length - 4);
        if ((int) crc.getValue() != stored) {
            throw new CorruptBlockException(
                    session, index,
                    String.format("checksum mismatch (stored %08x, computed %08x)", stored, (int) crc.getValue()));
        }
        BlockLayout found = new BlockLayout(
                bytes[6] & 0xff, bytes[7] & 0xff,
                LittleEndian.getShort(bytes, 8) & 0xffff, LittleEndian.getShort(bytes, 10) & 0xffff,
                LittleEndian.getShort(bytes, 12) & 0xffff, LittleEndian.getShort(bytes, 14) & 0xffff,
                LittleEndian.getShort(bytes, 16) & 0xffff, LittleEndian.getShort(bytes, 18) & 0xffff);
        if (!found.equals(layout)) {
            throw new CorruptBlockException(session, index, "written as " + found + ", expected " + layout);
        }
        int storedIndex = LittleEndian.getInt(bytes, 24);
        if (storedIndex != index) {
            throw new CorruptBlockException(session, index, "header says block " + storedIndex);
        }
        int appended = LittleEndian.getShort(bytes, 20) & 0xffff;
        if (appended > layout.blockTokens()) {
            throw new CorruptBlockException(session, index, "holds " + appended + " tokens, more than a block");
        }
        int o = HEADER_BYTES;
        boolean flaggedIds = (bytes[5] & FLAG_TOKEN_IDS) != 0;
        if (flaggedIds != (version == VERSION_TOKEN_IDS)) {
            throw new CorruptBlockException(session, index, "version " + version + (flaggedIds ? " with" : " without")
                    + " token ids");
        }
        int[] positions = (bytes[5] & FLAG_POSITIONS) != 0
                ? getInts(session, index, bytes, o, appended, "positions") : null;
        o += positions == null ? 0 : 4 * appended;
        int[] ids = flaggedIds ? getInts(session, index, bytes, o, appended, "token ids") : null;
        o += ids == null ? 0 : 4 * appended;
        int end = bytes.length - 4;
        int heads = layout.heads();
        int bitmapBytes = layout.bitmapBytes();
        byte[][] bitmaps = new byte[heads][bitmapBytes];
        int[] offsets = new int[heads];
        int[] lengths = new int[heads];
        for (int h = 0; h < heads; h++) {
            if (o + bitmapBytes + 4 > end) {
                throw new CorruptBlockException(session, index, "truncated at head " + h);
            }
            System.arraycopy(bytes, o, bitmaps[h], 0, bitmapBytes);
            o += bitmapBytes;
            lengths[h] = LittleEndian.getInt(bytes, o);
            o += 4;
            if (lengths[h] < 0 || o + lengths[h] > end) {
                throw new CorruptBlockException(session, index, "payload of head " + h + " overruns the block");
            }
            offsets[h] = o;
            o += lengths[h];
        }
        if (o != end) {
            throw new CorruptBlockException(session, index, (end - o) + " trailing bytes");
        }
        return new ParsedBlock(index, appended, positions, ids, bitmaps, offsets, lengths, bytes);
    }

    /** Writes {@code n} ints of {@code values} at {@code o}, if there are any; returns the offset after them. */
    private static int putInts(byte[] out, int o, @Nullable int[] values, int n) {
        if (values == null) {
            return o;
        }
        for (int i = 0; i < n; i++, o += 4) {
            LittleEndian.putInt(out, o, values[i]);
        }
        return o;
    }

    /** Reads {@code n} ints at {@code o}, before the checksum. */
    private static int[] getInts(String session, int index, byte[] bytes, int o, int n, String what)
            throws CorruptBlockException {
        if (o + 4 * n > bytes.length - 4) {
            throw new CorruptBlockException(session, index, "truncated " + what);
        }
        int[] values = new int[n];
        for (int i = 0; i < n; i++, o += 4) {
            values[i] = LittleEndian.getInt(bytes, o);
        }
        return values;
    }
}
