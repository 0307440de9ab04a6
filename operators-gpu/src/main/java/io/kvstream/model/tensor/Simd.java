package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

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

    private Simd() {}
}
