package io.kvstream.runtime.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The committed PTX is what the kernel sources compile to, and defines every kernel Java launches.
 * Runs without a GPU or nvcc: it compares the source hash each PTX file was made from.
 */
class PtxResourcesTest {

    private static final Path SOURCES = Paths.get("src", "main", "cuda");
    private static final Path RESOURCES = Paths.get("src", "main", "resources", "io", "kvstream", "runtime", "cuda");

    @Test
    void everyKernelSourceHasUpToDatePtx() throws Exception {
        List<Path> sources = list(SOURCES, ".cu");
        assertThat(sources).as("kernel sources in %s", SOURCES.toAbsolutePath()).isNotEmpty();
        List<Path> headers = list(SOURCES, ".cuh");
        for (Path cu : sources) {
            String module = cu.getFileName().toString().replaceAll("\\.cu$", "");
            String ptx = Ptx.text(module);
            assertThat(Ptx.sourceHash(ptx))
                    .as("%s.ptx is stale: run ./mvnw -pl operators-gpu -Pptx generate-resources on a machine"
                            + " with nvcc (-Dkvstream.nvcc=PATH) and commit the PTX", module)
                    .isEqualTo(sourceHash(cu, headers));
        }
    }

    @Test
    void everyPtxFileHasItsSource() throws Exception {
        for (Path ptx : list(RESOURCES, ".ptx")) {
            String module = ptx.getFileName().toString().replaceAll("\\.ptx$", "");
            assertThat(SOURCES.resolve(module + ".cu")).as("source of %s", ptx).exists();
        }
    }

    @Test
    void everyLaunchedKernelIsAnEntryOfItsModule() {
        for (Kernel k : Kernel.values()) {
            assertThat(Ptx.entries(Ptx.text(k.module()))).as("entries of %s.ptx", k.module()).contains(k.entry());
        }
    }

    @Test
    void entriesAreReadFromPtxText() {
        String ptx = "// kvstream-ptx source-sha256=" + "ab".repeat(32) + " arch=compute_80\n"
                + ".visible .entry first(\n\t.param .u64 a\n)\n{\n}\n.visible .entry second_one (\n)\n";
        assertThat(Ptx.entries(ptx)).containsExactly("first", "second_one");
        assertThat(Ptx.sourceHash(ptx)).isEqualTo("ab".repeat(32));
        assertThat(Ptx.sourceHash(".version 9.0")).isNull();
    }

    /** What build-ptx.sh hashes: the .cu, then every .cuh in name order. */
    private static String sourceHash(Path cu, List<Path> headers) throws IOException, NoSuchAlgorithmException {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        sha.update(Files.readAllBytes(cu));
        for (Path h : headers) {
            sha.update(Files.readAllBytes(h));
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static List<Path> list(Path dir, String suffix) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> out = new ArrayList<>();
            files.filter(p -> p.getFileName().toString().endsWith(suffix)).sorted().forEach(out::add);
            return out;
        }
    }
}
