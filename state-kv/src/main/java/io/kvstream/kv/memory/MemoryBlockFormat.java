package io.kvstream.kv.memory;

import io.kvstream.kv.block.CorruptBlockException;
import io.kvstream.kv.codec.LittleEndian;

import java.util.zip.CRC32C;

/**
 * The stored form of a memory block, one value of the {@code kv-memory} map state. Little-endian:
 *
 * <pre>
 *  0 int    magic 'KVMM'
 *  4 byte   format version (1)
 *  5 byte   reserved
 *  6 short  page tokens     8 short heads       10 short pages     12 short head dim
 * 14 short  reserved
 * 16 int    block index
 * 20 fp16 × heads × pages × 2 × headDim   the summary's bounds
 *    int    length of the block, then the block in its own format (with its own checksum)
 *    int    CRC32C of everything before it
 * </pre>
 */
final class MemoryBlockFormat {

    static final int MAGIC = 0x4D4D564B;
    static final int VERSION = 1;
    private static final int HEADER_BYTES = 20;

    private MemoryBlockFormat() {}

    static int size(BlockSummary summary, int blockBytes) {
        return HEADER_BYTES + summary.bytes() + 4 + blockBytes + 4;
    }

    static byte[] write(MemoryBlock block, int pageTokens) {
        BlockSummary summary = block.summary;
        byte[] inner = block.block.bytes();
        byte[] out = new byte[size(summary, inner.length)];
        LittleEndian.putInt(out, 0, MAGIC);
        out[4] = (byte) VERSION;
        LittleEndian.putShort(out, 6, (short) pageTokens);
        LittleEndian.putShort(out, 8, (short) summary.heads());
        LittleEndian.putShort(out, 10, (short) summary.pages());
        LittleEndian.putShort(out, 12, (short) (summary.bytes() / Short.BYTES / summary.heads() / summary.pages() / 2));
        LittleEndian.putInt(out, 16, block.index);
        int o = HEADER_BYTES;
        summary.write(out, o);
        o += summary.bytes();
        LittleEndian.putInt(out, o, inner.length);
        o += 4;
        System.arraycopy(inner, 0, out, o, inner.length);
        o += inner.length;
        CRC32C crc = new CRC32C();
        crc.update(out, 0, o);
        LittleEndian.putInt(out, o, (int) crc.getValue());
        return out;
    }

    /** What a stored memory block holds, verified; the inner block is still to be parsed. */
    record Read(int pageTokens, BlockSummary summary, byte[] block) {}

    static Read read(String session, int index, byte[] bytes, int heads, int headDim) throws CorruptBlockException {
        if (bytes.length < HEADER_BYTES + 8) {
            throw new CorruptBlockException(session, index, "memory block truncated: " + bytes.length + " bytes");
        }
        if (LittleEndian.getInt(bytes, 0) != MAGIC) {
            throw new CorruptBlockException(session, index, "not a memory block (bad magic)");
        }
        if ((bytes[4] & 0xff) != VERSION) {
            throw new CorruptBlockException(
                    session, index, "unknown memory block version " + (bytes[4] & 0xff) + " (this reader knows " + VERSION + ")");
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        if ((int) crc.getValue() != LittleEndian.getInt(bytes, bytes.length - 4)) {
            throw new CorruptBlockException(session, index, "memory block checksum mismatch");
        }
        int pageTokens = LittleEndian.getShort(bytes, 6) & 0xffff;
        int storedHeads = LittleEndian.getShort(bytes, 8) & 0xffff;
        int pages = LittleEndian.getShort(bytes, 10) & 0xffff;
        int storedDim = LittleEndian.getShort(bytes, 12) & 0xffff;
        if (storedHeads != heads || storedDim != headDim) {
            throw new CorruptBlockException(session, index, "memory block of " + storedHeads + " heads x "
                    + storedDim + ", the cache has " + heads + " x " + headDim);
        }
        if (LittleEndian.getInt(bytes, 16) != index) {
            throw new CorruptBlockException(session, index, "memory block header says " + LittleEndian.getInt(bytes, 16));
        }
        int summaryBytes = heads * pages * 2 * headDim * Short.BYTES;
        int o = HEADER_BYTES + summaryBytes;
        if (o + 4 > bytes.length - 4) {
            throw new CorruptBlockException(session, index, "memory block truncated in its summary");
        }
        BlockSummary summary = BlockSummary.read(bytes, HEADER_BYTES, heads, pages, headDim);
        int length = LittleEndian.getInt(bytes, o);
        o += 4;
        if (length < 0 || o + length != bytes.length - 4) {
            throw new CorruptBlockException(session, index, "memory block's inner block has the wrong length");
        }
        byte[] inner = new byte[length];
        System.arraycopy(bytes, o, inner, 0, length);
        return new Read(pageTokens, summary, inner);
    }
}
