package io.kvstream.kv.memory;

import io.kvstream.kv.block.EncodedBlock;
import io.kvstream.kv.block.ParsedBlock;

/**
 * One block in a session's memory: the block as the working set stored it when the window first
 * evicted from it (the session's codec, RoPE positions included), and its {@link BlockSummary}.
 */
final class MemoryBlock {

    final int index;
    final ParsedBlock block;
    final BlockSummary summary;
    /** Bytes of the stored form, for the memory's limit. */
    final int storedBytes;
    /** When the block was last brought back, or added, on its memory's clock. */
    long lastUse;

    MemoryBlock(int index, ParsedBlock block, BlockSummary summary, long lastUse) {
        this.index = index;
        this.block = block;
        this.summary = summary;
        this.storedBytes = MemoryBlockFormat.size(summary, block.bytes().length);
        this.lastUse = lastUse;
    }

    EncodedBlock stored(int pageTokens) {
        return new EncodedBlock(index, MemoryBlockFormat.write(this, pageTokens));
    }
}
