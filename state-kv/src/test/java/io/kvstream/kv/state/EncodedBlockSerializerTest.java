package io.kvstream.kv.state;

import io.kvstream.kv.block.EncodedBlock;

import org.apache.flink.api.common.typeutils.SerializerTestBase;
import org.apache.flink.api.common.typeutils.TypeSerializer;

import java.util.Random;

/** Flink's own serializer contract: copies, sequences, snapshots and their resolution. */
class EncodedBlockSerializerTest extends SerializerTestBase<EncodedBlock> {

    @Override
    protected TypeSerializer<EncodedBlock> createSerializer() {
        return EncodedBlockSerializer.INSTANCE;
    }

    @Override
    protected int getLength() {
        return -1;
    }

    @Override
    protected Class<EncodedBlock> getTypeClass() {
        return EncodedBlock.class;
    }

    @Override
    protected EncodedBlock[] getTestData() {
        Random r = new Random(3);
        byte[] large = new byte[300_000];
        r.nextBytes(large);
        byte[] small = new byte[17];
        r.nextBytes(small);
        return new EncodedBlock[] {
            new EncodedBlock(0, new byte[0]), new EncodedBlock(7, small), new EncodedBlock(123_456, large)
        };
    }
}
