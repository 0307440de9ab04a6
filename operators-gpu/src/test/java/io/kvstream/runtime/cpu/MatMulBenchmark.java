package io.kvstream.runtime.cpu;

import io.kvstream.model.tensor.Activations;
import io.kvstream.model.tensor.Float16;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.GgmlType;
import io.kvstream.model.tensor.Tensors;
import io.kvstream.runtime.Parallel;

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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * One thread multiplying a quantized matrix (Q8_0 unless {@code -p type=...}; 2048 columns, as the 1B model's attention and FFN input
 * matrices; in the file's layout unless {@code -p layout=...}) against a step of {@code tokens} activation rows, the core of prefill and decode.
 * By default the matrix (142 MB) is larger than the caches, so at one token the kernel streams
 * weights from memory as decode does.
 *
 * <p>Time is sampled per call: on a machine shared with other work the fastest call ({@code
 * p0.00}) is the kernel's own speed, the mean mostly measures the neighbours. Multiply-adds per
 * call are {@code rows x 2048 x tokens}; {@code bench/kernels/jmh-best.py} turns a JSON result
 * into GMAC/s.
 *
 * <pre>
 * ./mvnw -o -q -B -pl operators-gpu -am test-compile
 * ./mvnw -o -q -B -pl operators-gpu -am org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath \
 *     -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test
 * java --add-modules jdk.incubator.vector \
 *     -cp operators-gpu/target/test-classes:operators-gpu/target/classes:$(cat operators-gpu/target/bench.cp) \
 *     org.openjdk.jmh.Main MatMulBenchmark
 * </pre>
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
@Threads(1)
@State(Scope.Thread)
public class MatMulBenchmark {

    private static final int COLS = 2048;

    @Param({"1", "8", "32", "128"})
    public int tokens;

    /** 65536 rows (142 MB) stream from memory; 512 rows (2.2 MB) stay in cache, which isolates compute. */
    @Param({"65536"})
    public int rows;

    @Param({"Q8_0"})
    public GgmlType type;

    /**
     * {@code file}: the GGUF layout, read in place; {@code f32} or {@code q8_0}: the heap copy the
     * CPU backend makes of Q8_0 and Q4_0 ({@link Tensors#interleaved}), with that {@link
     * Activations} mode (which only Q4_0 heeds).
     */
    @Param({"file"})
    public String layout;

    private Parallel parallel;
    private MatMul matMul;
    private FloatTensor w;
    private float[] x;
    private float[] out;

    @Setup(Level.Trial)
    public void setUp() {
        SplittableRandom random = new SplittableRandom(1);
        int blocks = rows * (COLS / type.blockSize());
        ByteBuffer data = ByteBuffer.allocateDirect(blocks * type.bytesPerBlock()).order(ByteOrder.LITTLE_ENDIAN);
        while (data.hasRemaining()) {
            data.put((byte) random.nextInt(256));
        }
        // Random bytes are valid quants; the fp16 block scales are set to small normal values.
        int[] scales = type == GgmlType.Q6_K ? new int[] {208} : type == GgmlType.Q4_K ? new int[] {0, 2} : new int[] {0};
        for (int b = 0; b < blocks; b++) {
            for (int at : scales) {
                data.putShort(b * type.bytesPerBlock() + at, Float16.fromFloat((float) (0.001 + 0.01 * random.nextDouble())));
            }
        }
        data.clear();
        w = Tensors.wrap("w", type, rows, COLS, data);
        if (!layout.equals("file")) {
            w = Tensors.interleaved(w, Activations.parse(layout));
        }
        x = new float[tokens * COLS];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        out = new float[tokens * rows];
        parallel = new Parallel(1);
        matMul = new MatMul(parallel);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        parallel.close();
    }

    @Benchmark
    public float multiply() {
        matMul.multiply(w, x, COLS, tokens, out, rows);
        return out[tokens * rows - 1];
    }
}
