package io.kvstream.kv.block;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkNotNull;

import java.util.Arrays;

/** One block as stored: its index in the session and its bytes, header and checksum included. */
public final class EncodedBlock {

    private final int index;
    private final byte[] bytes;

    public EncodedBlock(int index, byte[] bytes) {
        checkArgument(index >= 0, "block index must be >= 0, not %s", index);
        this.index = index;
        this.bytes = checkNotNull(bytes);
    }

    public int index() {
        return index;
    }

    /** The stored bytes; not copied, do not modify. */
    public byte[] bytes() {
        return bytes;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EncodedBlock
                && ((EncodedBlock) o).index == index
                && Arrays.equals(((EncodedBlock) o).bytes, bytes);
    }

    @Override
    public int hashCode() {
        return 31 * index + Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return "EncodedBlock{index=" + index + ", bytes=" + bytes.length + "}";
    }
}
