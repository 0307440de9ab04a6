package io.kvstream.kv.bench;

import io.kvstream.kv.KvSpec;
import io.kvstream.kv.codec.KvCodec;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Encode and decode throughput of one (block, head) run: 64 tokens of keys and values at head
 * dim 64, as the cache encodes at each commit. Single-threaded, so per core. The {@code
 * fp16Bytes} counter is the throughput in fp16-equivalent bytes per second (2 bytes per key or
 * value element processed).
 *
 * <pre>
 * mvn -o -q -B -pl state-kv test-compile dependency:build-classpath \
 *     -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test
 * java --add-modules jdk.incubator.vector \
 *     -cp state-kv/target/test-classes:state-kv/target/classes:$(cat state-kv/target/bench.cp) \
 *     org.openjdk.jmh.Main CodecBenchmark
 * </pre>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@Threads(1)
@State(Scope.Thread)
public class CodecBenchmark {

    private static final int TOKENS = 64;
    private static final int HEAD_DIM = 64;
    private static final long FP16_BYTES = 2L * TOKENS * HEAD_DIM * 2;

    @Param({"fp16", "int8", "kivi4", "kivi2"})
    public String codec;

    private KvCodec kv;
    private float[] keys;
    private float[] values;
    private float[] outKeys;
    private float[] outValues;
    private byte[] encoded;

    /** fp16-equivalent bytes processed; JMH reports it per second. */
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Bytes {
        public long fp16Bytes;

        @Setup(Level.Iteration)
        public void reset() {
            fp16Bytes = 0;
        }
    }

    @Setup
    public void setUp() {
        kv = KvSpec.parse(codec).newCodec(HEAD_DIM);
        Random r = new Random(1);
        keys = new float[TOKENS * HEAD_DIM];
        values = new float[TOKENS * HEAD_DIM];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = (float) r.nextGaussian() * ((i % HEAD_DIM) % 16 == 5 ? 10f : 1f);
            values[i] = (float) r.nextGaussian();
        }
        outKeys = new float[keys.length];
        outValues = new float[values.length];
        encoded = new byte[kv.encodedBytes(TOKENS, 0)];
        kv.encode(keys, values, 0, TOKENS, 0, encoded, 0);
    }

    @Benchmark
    public int encode(Bytes bytes) {
        bytes.fp16Bytes += FP16_BYTES;
        return kv.encode(keys, values, 0, TOKENS, 0, encoded, 0);
    }

    @Benchmark
    public float[] decode(Bytes bytes) {
        bytes.fp16Bytes += FP16_BYTES;
        kv.decode(encoded, 0, TOKENS, 0, outKeys, outValues, 0);
        return outValues;
    }
}
