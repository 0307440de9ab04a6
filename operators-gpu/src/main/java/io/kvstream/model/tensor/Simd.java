package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;

/**
 * Vector shapes shared by the dequantizers and the fused dot products: the CPU backend's own
 * (the preferred species, at most 16 floats, so that blocks of 16 and 32 elements divide evenly),
 * with byte vectors of as many lanes. One shape everywhere matters beyond the arithmetic: the
 * Vector API's methods keep one type profile for all their callers, and once two shapes have
 * passed through them, C2 can no longer see a vector's class in kernels where the type is not
 * evident (after a loop, in a copy) and boxes the vectors there (measured 30x slower on a packed
 * matrix multiply). Machines without 256-bit vectors (or runs with {@code -Dkvstream.simd=false})
 * take the scalar paths, which are the reference the vector paths are tested against.
 */
final class Simd {

    /**
     * The fused dot products accumulate in the CPU backend's vector shape (the preferred one), so
     * that they add in the same order as its kernels over expanded rows; their bytes are loaded
     * one byte per float lane.
     */
    static final VectorSpecies<Float> DOT = OperatorProfile.PREFERRED;

    static final VectorSpecies<Byte> DOT_BYTES =
            VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, DOT.length() * 8)));

    /** The dequantizers' shape: the dot products' where a block holds a whole number of vectors. */
    static final VectorSpecies<Float> F = DOT.length() <= 16 ? DOT : FloatVector.SPECIES_512;
    static final VectorSpecies<Byte> B = F == DOT ? DOT_BYTES : ByteVector.SPECIES_128;

    static final boolean ENABLED =
            FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256
                    && Boolean.parseBoolean(System.getProperty("kvstream.simd", "true"));

    /** Fused dot products need a whole number of float vectors per 16 elements. */
    static final boolean FUSED = ENABLED && DOT.length() >= 8 && 16 % DOT.length() == 0
            && DOT_BYTES.length() == DOT.length();

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
    private static byte[] rowBuffer(int n) {
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

    /** Per-thread results of a partial group of rows (see {@link InterleavedTensor}). */
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[0]);

    /** This thread's tile buffer, holding at least {@code n} floats. */
    static float[] tile(int n) {
        float[] t = TILE.get();
        if (t.length < n) {
            t = new float[n];
            TILE.set(t);
        }
        return t;
    }

    /**
     * Copies the first {@code rows} results of each of {@code tokens} tile rows ({@code
     * tileStride} apart) to {@code out[at + i * outStride ..]}.
     */
    static void copyTile(float[] tile, int tokens, int tileStride, int rows, float[] out, int at, int outStride) {
        for (int i = 0; i < tokens; i++) {
            System.arraycopy(tile, i * tileStride, out, at + i * outStride, rows);
        }
    }

    /** Bytes {@code b[at .. at + DOT.length())} as signed integers in float lanes. */
    static FloatVector widen(ByteVector v) {
        return (FloatVector) v.convertShape(VectorOperators.B2F, DOT, 0);
    }

    /** The little-endian short at {@code b[at]}. */
    static short getShort(byte[] b, int at) {
        return (short) ((b[at] & 0xFF) | (b[at + 1] << 8));
    }
}
