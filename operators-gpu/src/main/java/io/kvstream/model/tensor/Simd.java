package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;

/**
 * Vector shapes shared by the dequantizers. Blocks hold 32 or 256 elements, so eight float lanes
 * fed from eight byte lanes divide every block evenly; wider registers gain little for a
 * load-convert-scale loop. Machines without 256-bit vectors (or runs with
 * {@code -Dkvstream.simd=false}) take the scalar paths, which are the reference the vector paths
 * are tested against.
 */
final class Simd {

    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    static final VectorSpecies<Byte> B = ByteVector.SPECIES_64;

    static final boolean ENABLED =
            FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256
                    && Boolean.parseBoolean(System.getProperty("kvstream.simd", "true"));

    /**
     * Per-thread copy of the row being expanded. Vector loads read heap arrays only: Java 17's
     * loads from a mapped buffer cost about twice those from a heap array (bounds and liveness
     * checks per load; measured 2.4 vs 4.3 G elements/s for Q8_0), and {@code
     * ByteVector.fromByteBuffer} is gone from Java 19 on, so a row is copied out in one bulk
     * transfer first, which every Java from 17 on compiles to a plain memory copy.
     */
    private static final ThreadLocal<byte[]> ROW = ThreadLocal.withInitial(() -> new byte[0]);

    private Simd() {}

    /** This thread's row buffer, holding at least {@code n} bytes. */
    static byte[] rowBuffer(int n) {
        byte[] b = ROW.get();
        if (b.length < n) {
            b = new byte[n];
            ROW.set(b);
        }
        return b;
    }

    /** Copies {@code data[from .. from + n)} into this thread's row buffer and returns that. */
    static byte[] copyRow(ByteBuffer data, int from, int n) {
        byte[] b = rowBuffer(n);
        data.get(from, b, 0, n);
        return b;
    }

    /** The little-endian short at {@code b[at]}. */
    static short getShort(byte[] b, int at) {
        return (short) ((b[at] & 0xFF) | (b[at + 1] << 8));
    }
}
