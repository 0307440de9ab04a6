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
    static final VectorSpecies<Float> DOT = FloatVector.SPECIES_PREFERRED;

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
     * Per-thread copy of the row being expanded, or of the group of rows being multiplied (see
     * {@link InterleavedTensor#copiesGroups}). Vector loads read heap arrays only: Java 17's
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

    /** Per-thread scales of the group being multiplied (see {@link InterleavedTensor#copiesGroups}). */
    private static final ThreadLocal<float[]> SCALES = ThreadLocal.withInitial(() -> new float[0]);

    /** This thread's scale buffer, holding at least {@code n} floats. */
    static float[] scaleBuffer(int n) {
        float[] s = SCALES.get();
        if (s.length < n) {
            s = new float[n];
            SCALES.set(s);
        }
        return s;
    }

    /** Copies {@code data[from .. from + n)} into this thread's row buffer and returns that. */
    static byte[] copyRow(ByteBuffer data, int from, int n) {
        byte[] b = rowBuffer(n);
        data.get(from, b, 0, n);
        return b;
    }

    /** Rows a fused dot product reads together: four independent accumulator chains (see {@link InterleavedTensor}). */
    static final int DOT_ROWS = 4;

    /** Tokens a fused dot product multiplies each widened weight vector with. */
    static final int DOT_TOKENS = 4;

    /**
     * Writes the first {@code n} of four row results. Takes the sums, not the vectors: a vector
     * passed to a call that is not inlined is boxed, and its loop with it.
     */
    static void store(float[] out, int at, int n, float s0, float s1, float s2, float s3) {
        out[at] = s0;
        if (n > 1) {
            out[at + 1] = s1;
        }
        if (n > 2) {
            out[at + 2] = s2;
        }
        if (n > 3) {
            out[at + 3] = s3;
        }
    }

    /**
     * Writes a four-row, four-token kernel's sums ({@code sRT} for row {@code R}, token {@code t +
     * T}): the first {@code rows} rows of each token before {@code tokens}.
     */
    static void storeTile(float[] out, int t, int tokens, int outStride, int row, int rows,
                          float s00, float s10, float s20, float s30,
                          float s01, float s11, float s21, float s31,
                          float s02, float s12, float s22, float s32,
                          float s03, float s13, float s23, float s33) {
        store(out, t * outStride + row, rows, s00, s10, s20, s30);
        if (t + 1 < tokens) {
            store(out, (t + 1) * outStride + row, rows, s01, s11, s21, s31);
        }
        if (t + 2 < tokens) {
            store(out, (t + 2) * outStride + row, rows, s02, s12, s22, s32);
        }
        if (t + 3 < tokens) {
            store(out, (t + 3) * outStride + row, rows, s03, s13, s23, s33);
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
