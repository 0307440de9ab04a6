package io.kvstream.model.tensor;

import io.kvstream.model.gguf.RowEncoder;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * C2 compiles {@link Q4_0Pairs}' kernels whole: no Vector API call inlined late, no intrinsic
 * failed.
 *
 * <p>Why this is worth a test: a call C2 inlines late, after its parse of a method passed {@code
 * NodeCountInliningCutoff}, may fail its intrinsic, and then the kernel runs the API's Java
 * fallback, boxing vectors per element. Whether it fails varies from JVM to JVM (2 of 80 for
 * this kernel's earlier form, docs/benchmarks.md, twenty-second stop), so no run of the kernel
 * shows it reliably; whether calls are inlined late at all is the same in every JVM, and that
 * is what this checks, in a JVM of its own with C2's compilation log. A kernel grown past the
 * cutoff fails here, where a benchmark would show it in a few JVMs out of many.
 * {@code bench/jit/late-inlines.py} reads the same log for every kernel.
 *
 * <p>The kernel runs only on Java 25 with 512-bit vectors ({@link Q8_0Tokens#PAIRS}); elsewhere
 * the test is skipped. The build's {@code java25} execution runs it on Java 25.
 */
class Q4_0PairsCompileTest {

    /** The Vector API's intrinsics ({@code jdk.internal.vm.vector.VectorSupport}), which C2 always inlines late. */
    private static final Set<String> INTRINSICS = Set.of(
            "binaryOp", "blend", "broadcastCoerced", "broadcastInt", "compare", "convert", "extract",
            "fromBitsCoerced", "insert", "load", "loadMasked", "maskReductionCoerced", "rearrangeOp",
            "reductionCoerced", "shuffleIota", "shuffleToVector", "store", "storeMasked", "ternaryOp",
            "test", "unaryOp");
    private static final Pattern TASK = Pattern.compile("<task ([^>]*)>(.*?)</task>", Pattern.DOTALL);
    private static final Pattern METHOD = Pattern.compile("<method id='(\\d+)' holder='\\d+' name='([\\w$<>]+)'");
    /** A late inline and the element after it: {@code <intrinsic} where an intrinsic expanded. */
    private static final Pattern LATE = Pattern.compile("<late_inline method='(\\d+)'.*?</late_inline>\\s*(<\\w+)?", Pattern.DOTALL);
    private static final Pattern C1 = Pattern.compile("level='[123]'");
    private static final String KERNELS = "method='" + Q4_0Pairs.class.getName() + " ";

    @Test
    void c2InlinesNoVectorApiCallLate(@TempDir Path dir) throws Exception {
        assumeTrue(Q8_0Tokens.PAIRS, "Q4_0Pairs runs on Java 25 with 512-bit vectors only");
        Path log = dir.resolve("compilation.xml");
        Path output = dir.resolve("output.txt");
        // -Xbatch: each compile finishes before the driver goes on, so all of them are in the log when it exits.
        Process driver = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "--add-modules", "jdk.incubator.vector", "-Xbatch",
                        "-XX:+UnlockDiagnosticVMOptions", "-XX:+LogCompilation", "-XX:LogFile=" + log,
                        "-cp", System.getProperty("java.class.path"), Driver.class.getName())
                .redirectErrorStream(true)
                .redirectOutput(output.toFile())
                .start();
        assertThat(driver.waitFor(120, TimeUnit.SECONDS)).as("driver finished within 120 s").isTrue();
        assertThat(driver.exitValue()).as("driver's exit, output: %s", Files.readString(output)).isZero();

        List<String> compiles = new ArrayList<>();
        List<String> late = new ArrayList<>();
        Matcher task = TASK.matcher(Files.readString(log, StandardCharsets.ISO_8859_1));
        while (task.find()) {
            String attributes = task.group(1);
            if (!attributes.contains(KERNELS) || C1.matcher(attributes).find()) {
                continue;
            }
            String method = attributes.substring(attributes.indexOf(KERNELS) + KERNELS.length()).split(" ")[0];
            compiles.add(method);
            Map<String, String> names = new HashMap<>();
            Matcher m = METHOD.matcher(task.group(2));
            while (m.find()) {
                names.put(m.group(1), m.group(2));
            }
            Matcher l = LATE.matcher(task.group(2));
            while (l.find()) {
                String name = names.getOrDefault(l.group(1), "?");
                if (!INTRINSICS.contains(name)) {
                    late.add(method + ": " + name + " inlined late");
                } else if (!"<intrinsic".equals(l.group(2))) {
                    late.add(method + ": " + name + " failed");
                }
            }
        }
        assertThat(compiles).as("C2 compiles of Q4_0Pairs' methods").contains("sums", "dotRows");
        assertThat(late).as("Vector API calls C2 inlined late, and intrinsics that failed, in Q4_0Pairs' compiles %s", compiles)
                .isEmpty();
    }

    /** Multiplies a Q4_0 matrix by 32 tokens, quantized in pairs, until C2 has compiled the kernels. */
    static final class Driver {
        public static void main(String[] args) throws IOException {
            int rows = 256;
            int cols = 512;
            int tokens = 32;
            SplittableRandom random = new SplittableRandom(7);
            int blocks = rows * cols / GgmlType.Q4_0.blockSize();
            ByteBuffer data = ByteBuffer.allocateDirect(blocks * GgmlType.Q4_0.bytesPerBlock()).order(ByteOrder.LITTLE_ENDIAN);
            float[] row = new float[cols];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    row[c] = (float) random.nextGaussian();
                }
                RowEncoder.encodeRow(GgmlType.Q4_0, row, data);
            }
            data.clear();
            FloatTensor w = Tensors.interleaved(Tensors.wrap("w", GgmlType.Q4_0, rows, cols, data), Activations.Q8_0);
            float[] x = new float[tokens * cols];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) random.nextGaussian();
            }
            float[] out = new float[tokens * rows];
            Q8_0Tokens xq = new Q8_0Tokens();
            for (int i = 0; i < 2000; i++) {
                xq.quantizePairs(x, cols, tokens, cols);
                w.dotRows(0, rows, xq, out, rows);
            }
            System.out.println("checksum " + out[0]);
        }
    }
}
